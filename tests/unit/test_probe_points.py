"""``DeviceDriver.probe`` on the in-memory driver: what it says of a block the device refuses."""

from __future__ import annotations

from pathlib import Path

from config.loader import PROFILE_DIR
from config.profile import Profile, load_profile
from device_drivers.fake import FakeDriver


def desd_with_a_gap(tmp_path: Path) -> Profile:
    """The shipped storage profile with soc_max moved two registers up: a gap at 8..9."""
    text = (PROFILE_DIR / "desd.toml").read_text(encoding="utf-8")
    moved = text.replace(
        'name = "soc_max"\ntable = "holding"\naddress = 8',
        'name = "soc_max"\ntable = "holding"\naddress = 10',
    )
    assert moved != text
    (tmp_path / "desd.toml").write_text(moved, encoding="utf-8")
    profile, issues = load_profile(tmp_path / "desd.toml")
    assert profile is not None, issues
    return profile


async def test_a_device_that_refuses_reads_across_gaps_fails_with_a_hint(tmp_path: Path) -> None:
    driver = FakeDriver("b1", desd_with_a_gap(tmp_path), values={"soc": 60.0, "soc_max": 90.0})
    for gap in (8, 9):  # the device has no registers there: a read across them is refused
        del driver.image.cells[("holding", gap)]
    found = {p.point.name: p for p in await driver.probe()}
    assert found["soc"].value == 60.0
    assert found["soc_max"].value == 90.0  # each point reads alone ...
    error = found["soc"].error or ""  # ... but the node reads the block, and that fails
    assert "b1 holding[0..11] read failed: Modbus exception 2 (illegal data address)" in error
    assert "set max_gap = 0 in profile desd-storage-v1" in error
    assert all(p.error for p in found.values())
    assert driver.stats.writes == 0


async def test_an_unreachable_device_is_asked_once(tmp_path: Path) -> None:
    driver = FakeDriver("b1", desd_with_a_gap(tmp_path))
    driver.faults.offline = True
    found = await driver.probe()
    assert driver.stats.requests == 1
    assert all("fake device offline" in (p.error or "") for p in found)
