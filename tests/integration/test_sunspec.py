"""A SunSpec inverter and a SunSpec battery served by the simulator from the SunSpec model
definitions, read by the node's Modbus driver (scale factors applied), discovered by
``dgi probe --sunspec`` and read by mbpoll (libmodbus) at the addresses SunSpec gives."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.loader import load_site
from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver
from simulators.runner import Simulation
from tests.conftest import ROOT, copy_site
from tests.helpers import on_any_port
from tests.integration.test_mbpoll import mbpoll

SITE = "lab-sunspec.toml"


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation(on_any_port(load_site(ROOT / "config" / "examples" / SITE))) as running:
        yield running


async def test_the_driver_reads_generation_storage_and_soc(sim: Simulation) -> None:
    pool = LinkPool()
    devices = {d.id: d for d in sim.site.devices}
    drivers = {
        name: build_driver(devices[name], Connections(pool), address=sim.address(name))
        for name in ("sst1-pv", "sst1-battery")
    }
    try:
        sim.plant.command("sst1-battery", "storage", -4.0)
        for driver in drivers.values():
            await driver.read_all()
        pv, battery = drivers["sst1-pv"], drivers["sst1-battery"]
        # W_SF = 1 on the wire: 10 W steps
        assert pv.state("generation") == pytest.approx(
            sim.plant.read("sst1-pv", "generation"), abs=0.006
        )
        assert battery.state("storage") == pytest.approx(
            sim.plant.read("sst1-battery", "storage"), abs=0.006
        )
        assert battery.state("soc") == pytest.approx(  # SoC_SF = -1: 0.1 %
            sim.plant.read("sst1-battery", "soc"), abs=0.06
        )
        await battery.command("storage", 3.5)  # WSet, int32 W with WSet_SF
        assert sim.plant.commanded("sst1-battery", "storage") == pytest.approx(3.5)
    finally:
        for driver in drivers.values():
            await driver.close()
        pool.close()


async def test_dgi_probe_discovers_the_models(tmp_path: Path) -> None:
    path = copy_site(SITE, tmp_path)
    async with Simulation(load_site(path)):
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "controller", "probe", "-c", str(path), "--sunspec",
            cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        out_bytes, err_bytes = await asyncio.wait_for(process.communicate(), 60)
    out, err = out_bytes.decode(), err_bytes.decode()
    assert process.returncode == 1, out + err  # the sst and load profiles are not SunSpec
    assert 'SunS at 40000 · profile = "sunspec:1,103"' in out
    assert 'SunS at 0 · profile = "sunspec:1,701,704,802@0"' in out
    rows = re.findall(r"│\s+(\d+) │ (\S+)\s+│\s+(\d+) │\s+(\d+) │", out)
    assert rows == [
        ("1", "common", "66", "40002"),
        ("103", "inverter_three_phase", "50", "40070"),
        ("1", "common", "66", "2"),
        ("701", "DERMeasureAC", "153", "70"),
        ("704", "DERCtlAC", "65", "225"),
        ("802", "battery", "62", "292"),
    ], out
    assert "sst1-gateway: no SunSpec marker 'SunS' at 40000, 0 or 50000" in err


async def test_mbpoll_reads_the_marker_and_the_power(sim: Simulation) -> None:
    rc, out = await mbpoll(sim, "sst1-pv", "-r", "40000", "-c", "2", "-t", "4:hex")
    assert rc == 0, out
    assert "[40000]: \t0x5375" in out, out  # "Su"
    assert "[40001]: \t0x6E53" in out, out  # "nS"
    rc, out = await mbpoll(sim, "sst1-pv", "-r", "40084", "-c", "2", "-t", "4")  # W, W_SF
    assert rc == 0, out
    w, sf = (int(line.split()[-1]) for line in out.splitlines() if line.startswith("[400"))
    assert sf == 1
    assert w * 10**sf / 1000 == pytest.approx(sim.plant.read("sst1-pv", "generation"), abs=0.006)
