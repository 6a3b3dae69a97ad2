"""``dgi probe`` as a process against the simulator's Modbus servers: every point it prints
is the plant's value, it never writes, a device that is down or an address the device does
not have fails — naming the device and the point — and the exit code says so."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from config.loader import load_site
from simulators.runner import Simulation
from tests.conftest import ROOT, copy_site

PROBE = [sys.executable, "-m", "controller", "probe"]


async def probe(*args: str) -> tuple[int, str, str]:
    """Run ``dgi probe`` without blocking the event loop that serves the simulator."""
    process = await asyncio.create_subprocess_exec(
        *PROBE, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def by_device(out: str) -> dict[str, dict[str, Any]]:
    return {d["device"]: d for d in json.loads(out)}


async def test_every_point_is_the_plants_value_and_nothing_is_written(tmp_path: Path) -> None:
    path = copy_site("three-substations.toml", tmp_path)
    site = load_site(path)
    async with Simulation(site) as sim:
        code, out, err = await probe("--config", str(path), "--json")
        assert code == 0, err
        found = by_device(out)
        assert sorted(found) == sorted(d.id for d in site.devices)
        for device in site.devices:
            assert found[device.id]["ok"], found[device.id]
            points = {p["name"]: p for p in found[device.id]["points"]}
            for point in device.profile.points:
                if point.is_command and not point.is_state:
                    expected = sim.plant.commanded(device.id, point.signal)
                else:
                    expected = sim.plant.read(device.id, point.signal)
                assert points[point.name]["value"] == pytest.approx(expected, rel=1e-6, abs=0.01)
                assert points[point.name]["error"] is None
        assert all(image.writes == 0 for image in sim.images.values())
        load = {p["name"]: p for p in found["sst1-load"]["points"]}["drain"]
        assert load["raw"] == [2000, 0]  # 20 kW in units of 10 W, low word first (CDAB)

        code, out, err = await probe("--config", str(path), "--node", "sst2")
        assert code == 0, err
        assert "sst2-gateway · Sst · node sst2 · tcp 127.0.0.1:" in out
        assert "sst1-" not in out
        assert "6 device(s), 12 point(s), nothing written: 6 ok, 0 failed" in out


async def test_a_device_that_is_down_fails_and_is_named(tmp_path: Path) -> None:
    path = copy_site("three-substations.toml", tmp_path)
    site = load_site(path)
    async with Simulation(site) as sim:
        await sim.stop_server("sst1-load")
        code, out, err = await probe("--config", str(path), "--node", "sst1", "--json")
        assert code == 1
        found = by_device(out)
        assert not found["sst1-load"]["ok"]
        assert all(found[d]["ok"] for d in found if d != "sst1-load")
        assert "error: sst1-load holding[0..1] read failed: cannot connect to 127.0.0.1:" in err
    code, out, err = await probe("--config", str(path))  # the simulator stopped: all fail
    assert code == 1
    for device in site.devices:
        assert f"error: {device.id} " in err
    assert "18 device(s), 36 point(s), nothing written: 0 ok, 18 failed" in out


async def test_an_address_the_device_does_not_have_names_the_point(tmp_path: Path) -> None:
    path = copy_site("three-substations.toml", tmp_path)
    site = load_site(path)
    # the lab's profile puts soc_max two registers further than the device has it
    profile = (ROOT / "config" / "profiles" / "desd.toml").read_text(encoding="utf-8")
    moved = profile.replace(
        'name = "soc_max"\ntable = "holding"\naddress = 8',
        'name = "soc_max"\ntable = "holding"\naddress = 10',
    )
    assert moved != profile
    (tmp_path / "desd-moved.toml").write_text(moved, encoding="utf-8")
    lab = tmp_path / "lab.toml"
    lab.write_text(
        path.read_text(encoding="utf-8").replace('profile = "desd"', 'profile = "desd-moved.toml"')
    )
    async with Simulation(site) as sim:
        code, out, err = await probe("--config", str(lab), "--device", "sst1-storage", "--json")
        assert all(image.writes == 0 for image in sim.images.values())
    assert code == 1, err
    points = {p["name"]: p for p in by_device(out)["sst1-storage"]["points"]}
    # the block holding[0..11] is refused; read point by point, the good points still show
    assert points["soc"]["value"] == 60.0
    assert points["soc"]["error"] is None
    assert "holding[10..11]" in points["soc_max"]["error"]
    assert "Modbus exception 2 (illegal data address)" in points["soc_max"]["error"]
    assert "error: sst1-storage holding[10..11] read failed: Modbus exception 2" in err


async def test_a_node_or_device_the_site_does_not_have(tmp_path: Path) -> None:
    path = copy_site("three-substations.toml", tmp_path)
    code, _, err = await probe("--config", str(path), "--node", "sst9")
    assert code == 2
    assert "site three-substations has no node 'sst9'; nodes: sst1, sst2, sst3" in err
    code, _, err = await probe("--config", str(path), "--node", "sst1", "--device", "sst2-load")
    assert code == 2
    assert "node sst1 has no device 'sst2-load'; devices: sst1-gateway," in err
