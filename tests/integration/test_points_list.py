"""``dgi points-list`` as a real process on the shipped examples, and its pure rendering."""

from __future__ import annotations

import csv
import io
import subprocess
import sys

import pytest

from config.loader import load_site
from config.profile import Point, Registers
from controller.cli.points_cmd import COLUMNS, number, point_rows, register_reference, to_markdown
from tests.conftest import EXAMPLE_NAMES, EXAMPLES, ROOT

DGI = [sys.executable, "-m", "controller", "points-list"]


def points_list(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the command; stdout decoded as is (RFC 4180's CRLF line ends kept)."""
    raw = subprocess.run([*DGI, *args], capture_output=True, timeout=60, cwd=ROOT)
    return subprocess.CompletedProcess(
        raw.args, raw.returncode, raw.stdout.decode("utf-8"), raw.stderr.decode("utf-8")
    )


def parse_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_every_point_of_every_node_appears_and_the_csv_parses_back(example: str) -> None:
    site = load_site(EXAMPLES / example)
    node = site.nodes[0].id
    result = points_list(f"config/examples/{example}", "--node", node)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\r\n")  # RFC 4180 line ends
    rows = parse_csv(result.stdout)
    assert tuple(rows[0]) == COLUMNS
    listed = {(row["device"], row["point"]) for row in rows}
    expected = {(d.id, p.name) for d in site.devices_of(node) for p in d.profile.points}
    assert listed == expected
    assert all(row["node"] == node for row in rows)
    # every point the node reads or writes is there, with what it does
    assert {row["access"] for row in rows} <= {"r", "w", "rw"}
    commands = [row for row in rows if "command" in row["role"]]
    assert all("w" in row["access"] for row in commands)


def test_without_node_every_node_is_listed() -> None:
    site = load_site(EXAMPLES / "three-substations.toml")
    result = points_list("config/examples/three-substations.toml")
    assert result.returncode == 0, result.stderr
    rows = parse_csv(result.stdout)
    assert {row["node"] for row in rows} == {n.id for n in site.nodes}
    assert len(rows) == sum(len(d.profile.points) for d in site.devices)


def test_modbus_points_carry_their_registers() -> None:
    result = points_list("config/examples/lab-modbus.toml", "--node", "lab2")
    assert result.returncode == 0, result.stderr
    rows = {(row["device"], row["point"]): row for row in parse_csv(result.stdout)}
    pstar = rows[("lab2-sst", "pstar")]
    assert pstar["transport"] == "modbus_rtu"
    assert (pstar["table"], pstar["pdu_address"], pstar["register"]) == ("holding", "2", "40003")
    assert (pstar["type"], pstar["word_order"], pstar["registers"]) == ("float32", "ABCD", "2")
    assert (pstar["role"], pstar["access"], pstar["failsafe"]) == ("command", "rw", "0")
    assert (pstar["min"], pstar["max"], pstar["unit"]) == ("-100", "100", "kW")
    drain = rows[("lab2-load", "drain")]
    assert (drain["type"], drain["word_order"], drain["scale"]) == ("int32", "CDAB", "0.01")
    state = rows[("lab2-fid", "state")]
    assert (state["table"], state["register"]) == ("discrete_input", "10001")
    assert state["word_order"] == ""


def test_ocpp_devices_are_listed_without_registers() -> None:
    result = points_list("config/examples/demo-day.toml", "--node", "sst1")
    assert result.returncode == 0, result.stderr
    chargers = [row for row in parse_csv(result.stdout) if row["transport"] == "ocpp"]
    assert {row["point"] for row in chargers} == {"power", "connected", "power_limit"}
    for row in chargers:
        assert row["link"].startswith("ws://")
        assert row["link"].endswith("/ocpp/" + row["device"])
        assert row["table"] == row["address"] == row["register"] == row["type"] == ""
    limit = next(row for row in chargers if row["point"] == "power_limit")
    assert (limit["role"], limit["failsafe"], limit["max"]) == ("command", "0", "1000")


def test_markdown_is_a_table_with_a_header_row() -> None:
    site = load_site(EXAMPLES / "single-node.toml")
    node = site.nodes[0].id
    result = points_list("config/examples/single-node.toml", "--node", node, "--format", "markdown")
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout
    lines = result.stdout.splitlines()
    assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[1] == "|" + "---|" * len(COLUMNS)
    body = lines[2:]
    assert len(body) == sum(len(d.profile.points) for d in site.devices_of(node))
    assert all(line.startswith("| ") and line.endswith(" |") for line in body)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--node", "nowhere"), "has no node 'nowhere'; nodes: sst1, sst2, sst3"),
        (("--format", "xlsx"), "must be csv or markdown"),
    ],
    ids=["bad-node", "bad-format"],
)
def test_a_bad_selection_is_refused_with_exit_2(args: tuple[str, ...], message: str) -> None:
    result = points_list("config/examples/three-substations.toml", *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert message in " ".join(result.stderr.split())


def test_a_missing_site_file_exits_1() -> None:
    result = points_list("config/examples/no-such-site.toml")
    assert result.returncode == 1
    assert "refusing to start" in result.stderr


def point(table: str, address: int) -> Point:
    return Point(name="p", signal="p", location=Registers(table, address), type="bool", access="r",  # type: ignore[arg-type]
                 unit="", scale=1.0, offset=0.0, min=None, max=None,
                 failsafe=None, roles=frozenset())  # fmt: skip


@pytest.mark.parametrize(
    ("table", "address", "reference"),
    [
        ("holding", 0, "40001"),
        ("input", 99, "30100"),
        ("coil", 0, "00001"),
        ("discrete_input", 9998, "19999"),
        ("holding", 9999, "410000"),
        ("holding", 65535, "465536"),
    ],
)
def test_register_reference(table: str, address: int, reference: str) -> None:
    assert register_reference(point(table, address)) == reference


@pytest.mark.parametrize(
    ("value", "text"),
    [(None, ""), (0.0, "0"), (-100.0, "-100"), (0.01, "0.01"), (4294967295.0, "4294967295")],
)
def test_numbers_are_exact(value: float | None, text: str) -> None:
    assert number(value) == text


def test_markdown_escapes_pipes() -> None:
    site = load_site(EXAMPLES / "single-node.toml")
    row = point_rows(site)[0]
    table = to_markdown([row.__class__(**{**row.__dict__, "description": "a | b"})])
    assert "a \\| b" in table.splitlines()[2]
