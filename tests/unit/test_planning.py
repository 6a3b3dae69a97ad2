"""Block planning: points within the gap share a request; tables and Modbus limits split them."""

from __future__ import annotations

import pytest

from config.profile import Point, Registers
from device_drivers.planning import plan_reads


def pt(name: str, table: str, address: int, type_: str = "float32", access: str = "r") -> Point:
    return Point(
        name=name, signal=name, location=Registers(table, address), type=type_, access=access,  # type: ignore[arg-type]
        unit="", scale=1.0, offset=0.0, min=None, max=None, failsafe=None,
        roles=frozenset({"state"}),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("points", "max_gap", "expected"),
    [
        ([pt("a", "holding", 0), pt("b", "holding", 2)], 0, [("holding", 0, 4, "ab")]),
        ([pt("a", "holding", 0), pt("b", "holding", 10)], 8, [("holding", 0, 12, "ab")]),
        ([pt("a", "holding", 0), pt("b", "holding", 11)], 8, [("holding", 0, 2, "a"), ("holding", 11, 2, "b")]),
        ([pt("b", "holding", 10), pt("a", "holding", 0)], 8, [("holding", 0, 12, "ab")]),
        ([pt("a", "holding", 0), pt("b", "input", 0)], 8, [("holding", 0, 2, "a"), ("input", 0, 2, "b")]),
        ([pt("a", "holding", 0), pt("w", "holding", 2, access="w")], 8, [("holding", 0, 2, "a")]),
        ([pt("a", "holding", 0), pt("b", "holding", 124)], 200, [("holding", 0, 2, "a"), ("holding", 124, 2, "b")]),
        ([pt("a", "holding", 0), pt("b", "holding", 123)], 200, [("holding", 0, 125, "ab")]),
        ([pt("a", "coil", 0, "bool"), pt("b", "coil", 1999, "bool")], 2000, [("coil", 0, 2000, "ab")]),
        ([pt("a", "coil", 0, "bool"), pt("b", "coil", 2000, "bool")], 2000, [("coil", 0, 1, "a"), ("coil", 2000, 1, "b")]),
        ([pt("a", "holding", 0, "float64"), pt("b", "holding", 1, "int16")], 0, [("holding", 0, 4, "ab")]),
    ],
    ids=[
        "adjacent", "gap-within", "gap-too-wide", "unsorted", "two-tables", "write-only-not-read",
        "125-register-limit", "exactly-125", "2000-bit-limit", "bits-split", "nested",
    ],
)  # fmt: skip
def test_plan(points: list[Point], max_gap: int, expected: list[tuple[str, int, int, str]]) -> None:
    blocks = plan_reads(points, max_gap)
    got = [(b.table, b.address, b.count, "".join(p.name for p in b.points)) for b in blocks]
    assert got == expected


def test_shipped_profiles_read_in_one_request_each() -> None:
    from config.loader import load_site

    site = load_site("config/examples/single-node.toml")
    for device in site.devices:
        assert len(plan_reads(device.profile.points, device.profile.max_gap)) == 1, device.id
