"""SunSpec profiles generated from the model definitions: layout, signals, scale factors."""

from __future__ import annotations

import pytest

from config.sunspec import SunSpecError, model, parse, sunspec_profile
from device_drivers.codec import CodecError, decode, encode, exponent_of
from device_drivers.sunspec_scan import FoundModel, Scan


@pytest.mark.parametrize(
    ("model_id", "length"),
    [(1, 66), (101, 50), (102, 50), (103, 50), (701, 153), (702, 50), (703, 17), (704, 65),
     (705, 25), (124, 24), (802, 62)],
)  # fmt: skip
def test_model_lengths_are_the_specifications(model_id: int, length: int) -> None:
    assert model(model_id).length == length


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("sunspec:103", ((1, 103), 40000, {})),
        ("sunspec:1,103,124,704@50000", ((1, 103, 124, 704), 50000, {})),
        ("sunspec:701@0", ((1, 701), 0, {})),
        ("sunspec:701,705:300,704", ((1, 701, 705, 704), 40000, {705: 300})),
    ],
)
def test_parse(reference: str, expected: tuple[tuple[int, ...], int, dict[int, int]]) -> None:
    assert parse(reference) == expected


def test_a_model_with_more_repeating_groups_moves_the_models_after_it() -> None:
    """A device whose 705 has more curves than the definition's one reports a longer L; the
    reference carries it (``705:300``) and 704 is placed after it."""
    defined = sunspec_profile("sunspec:701,705,704,802")
    longer = sunspec_profile("sunspec:701,705:300,704,802")
    shift = 300 - model(705).length
    address = {p.name: p.address for p in defined.points}
    moved = {p.name: p.address for p in longer.points}
    assert moved["m705.ID"] == address["m705.ID"]
    assert moved["m704.ID"] == address["m704.ID"] + shift
    assert next(p.fixed for p in longer.points if p.name == "m705.L") == 300
    storage = next(p for p in longer.points if p.signal == "storage" and p.is_command)
    assert (
        storage.address
        == next(p.address for p in defined.points if p.signal == "storage" and p.is_command) + shift
    )


def test_a_scan_names_the_lengths_that_differ_from_the_definitions() -> None:
    found = Scan(0, (FoundModel(1, "common", model(1).length, 2),
                     FoundModel(705, "DERVoltVar", 300, 70)))  # fmt: skip
    assert found.reference() == "sunspec:1,705:300@0"


@pytest.mark.parametrize(
    ("reference", "rule"),
    [
        ("sunspec:103@40001", "base address must be one of 40000, 0, 50000"),
        ("sunspec:abc", r"expected sunspec:MODEL\[:LENGTH\]\[,MODEL...\]\[@BASE\]"),
        ("sunspec:103:1,704", "model 103's length 1 is shorter than its fixed points"),
        ("sunspec:160", "model 160 is not supported"),
        ("sunspec:1", "needs an inverter model"),
        ("sunspec:103,124", "a Desd needs the command storage: add model 704"),
    ],
)
def test_bad_references_name_the_rule(reference: str, rule: str) -> None:
    with pytest.raises(SunSpecError, match=rule):
        sunspec_profile(reference)


def test_an_inverter_is_a_drer_reading_w_in_kw_with_its_scale_factor() -> None:
    profile = sunspec_profile("sunspec:103")
    assert profile.device_type == "Drer"
    point = profile.state_point("generation")
    assert point is not None
    assert (point.name, point.address, point.type, point.unit, point.scale) == (
        "m103.W", 40084, "int16", "kW", 0.001,
    )  # fmt: skip
    assert point.scale_factor == "m103.W_SF"
    assert profile.point("m103.W_SF").address == 40085
    marker = profile.point("SunS")
    assert (marker.address, marker.fixed) == (40000, 0x53756E53)
    assert [p.fixed for p in profile.points if p.name.endswith((".ID", ".L"))] == [
        1, 66, 103, 50, 0xFFFF, 0,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("reference", "storage", "soc", "command"),
    [
        ("sunspec:1,701,704,802@0", ("m701.W", 80), ("m802.SoC", 303), ("m704.WSet", 249)),
        ("sunspec:103,124,704", ("m103.W", 40084), ("m124.ChaState", 40130), ("m704.WSet", 40172)),
    ],
)
def test_storage_is_a_desd_with_storage_soc_and_the_wset_command(
    reference: str, storage: tuple[str, int], soc: tuple[str, int], command: tuple[str, int]
) -> None:
    profile = sunspec_profile(reference)
    assert profile.device_type == "Desd"
    found = [profile.state_point("storage"), profile.state_point("soc")]
    found.append(profile.command_point("storage"))
    assert [(p.name, p.address) for p in found if p is not None] == [storage, soc, command]
    assert all(p is not None and p.scale_factor is not None for p in found)


@pytest.mark.parametrize(
    ("registers", "factor", "expected"),
    [([1234], 1, 12.34), ([0xFFFE], 0, -0.002), ([500], -2, 0.005), ([7], 3, 7.0)],
)
def test_scale_factors_are_powers_of_ten(
    registers: list[int], factor: int, expected: float
) -> None:
    point = sunspec_profile("sunspec:103").point("m103.W")
    exponent = exponent_of(point, factor)
    assert decode(point, registers, exponent) == pytest.approx(expected)
    assert encode(point, expected, exponent) == registers


@pytest.mark.parametrize(
    ("factor", "rule"), [(-32768, "not implemented"), (None, "not implemented"), (11, "-10..10")]
)
def test_an_unusable_scale_factor_is_an_error(factor: float | None, rule: str) -> None:
    point = sunspec_profile("sunspec:103").point("m103.W")
    with pytest.raises(CodecError, match=rule):
        exponent_of(point, factor)
