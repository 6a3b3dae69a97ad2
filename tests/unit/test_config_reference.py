"""docs/configuration.md is the schema's reference, and every key of the schema is documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from config.reference import DESCRIPTIONS, UndocumentedKey, sections_of, site_files
from config.schema import Model, Positive
from controller.cli.config_ref_cmd import SCENARIO_DESCRIPTIONS, reference, scenario_file

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "configuration.md"


def test_committed_reference_is_current() -> None:
    # reference() raises UndocumentedKey, naming the keys, when a schema key has no description
    expected = reference()
    assert REFERENCE.read_text(encoding="utf-8") == expected, (
        "docs/configuration.md differs from the schema: run "
        ".venv/bin/dgi config-reference -o docs/configuration.md"
    )


def test_every_site_table_is_in_the_reference() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    for heading in ("[site]", "[algorithm]", "[timings]", "[ev]", "[simulation]", "[grid]",
                    "[[rtds]]", "[[nodes]]", "[[nodes.devices]]", 'type = "Evse"', "[[point]]",
                    "[scenario]", "[network]", 'kind = "partition"'):  # fmt: skip
        assert f"### {heading}" in text or heading in text, heading
    assert "| `failsafe_hold_s` | number | `5.0` | >= 0 |" in text


def test_no_description_names_a_key_that_is_gone() -> None:
    fields = {
        key.field
        for _, _, sections in [*site_files(), scenario_file()]
        for section in sections
        for key in section.keys
    }
    stale = sorted(set(DESCRIPTIONS) - fields) + sorted(set(SCENARIO_DESCRIPTIONS) - fields)
    assert not stale, f"descriptions of keys the schema no longer has: {stale}"


class _Toy(Model):
    """A table of a made-up schema."""

    commented: Positive = 1.0  # a key documented by its comment
    # a key documented by the comment above it
    above: int = 2
    described: str = Field(default="x", description="a key documented by its Field")
    bare: bool = False


class _Outer(Model):
    inner: _Toy = _Toy()  # a nested table
    also_bare: int = 0


def test_a_key_without_description_is_an_error_naming_it() -> None:
    with pytest.raises(UndocumentedKey) as caught:
        sections_of(_Outer, "toy")
    assert caught.value.keys == ["_Outer.also_bare (toy.also_bare)", "_Toy.bare (toy.inner.bare)"]
    assert "_Toy.bare (toy.inner.bare)" in str(caught.value)


def test_comments_and_fields_describe_keys() -> None:
    class Documented(Model):
        commented: Positive = 1.0  # a key documented by its comment
        # a key documented by the comment above it
        above: int = 2
        described: str = Field(default="x", description="a key documented by its Field")

    (section,) = sections_of(Documented, "toy")
    rows = {key.name: key for key in section.keys}
    assert rows["commented"].description == "a key documented by its comment"
    assert rows["commented"].allowed == "> 0"
    assert rows["above"].description == "a key documented by the comment above it"
    assert rows["described"].description == "a key documented by its Field"
    assert rows["described"].default == '"x"'
