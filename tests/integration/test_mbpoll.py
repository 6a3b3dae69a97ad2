"""mbpoll (libmodbus, a client this project did not write) against a running simulator, at the
addresses the profiles document."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from simulators.runner import Simulation
from tests.helpers import example, mbpoll_values, on_any_port, run_mbpoll


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    async with Simulation(on_any_port(example("three-substations.toml"))) as running:
        yield running


async def mbpoll(
    sim: Simulation, device_id: str, *args: str, write: str | None = None
) -> tuple[int, str]:
    """Run mbpoll once (-1) against a device; the simulator keeps serving meanwhile."""
    host, port = sim.address(device_id)
    return await run_mbpoll(host, port, *args, write=write)


values = mbpoll_values


async def test_reads_sst_gateway_and_pstar(sim: Simulation) -> None:
    rc, out = await mbpoll(sim, "sst2-gateway", "-r", "0", "-c", "2", "-t", "4:float", "-B")
    assert rc == 0, out
    assert values(out) == {0: 10.0, 2: 10.0}  # gateway and PStar of the plant


async def test_reads_desd_storage_and_soc(sim: Simulation) -> None:
    sim.plant.command("sst1-storage", "storage", 4.0)
    rc, out = await mbpoll(sim, "sst1-storage", "-r", "0", "-c", "3", "-t", "4:float", "-B")
    assert rc == 0, out
    got = values(out)
    assert got[0] == pytest.approx(sim.plant.read("sst1-storage", "storage"))
    assert got[2] == 4.0
    assert got[4] == pytest.approx(sim.plant.read("sst1-storage", "soc"), abs=1e-3)


async def test_reads_load_drain_in_its_own_word_order(sim: Simulation) -> None:
    # load.toml: int32, low word first (CDAB, mbpoll's default), 0.01 kW per count.
    rc, out = await mbpoll(sim, "sst2-load", "-r", "0", "-c", "1", "-t", "4:int")
    assert rc == 0, out
    assert values(out)[0] * 0.01 == pytest.approx(sim.plant.read("sst2-load", "drain"))


async def test_a_write_through_mbpoll_changes_the_plant(sim: Simulation) -> None:
    rc, out = await mbpoll(sim, "sst1-gateway", "-r", "2", "-t", "4:float", "-B", write="-12.5")
    assert rc == 0, out
    assert sim.plant.commanded("sst1-gateway", "gateway") == -12.5
    await asyncio.sleep(1.5)  # the example's SSTs follow PStar with a 0.2 s lag
    sim.plant.advance(sim.now())
    assert sim.plant.read("sst1-gateway", "gateway") == pytest.approx(-12.5, abs=0.01)


async def test_a_load_step_through_mbpoll(sim: Simulation) -> None:
    rc, out = await mbpoll(sim, "sst3-load", "-r", "0", "-t", "4:int", write="2500")
    assert rc == 0, out
    sim.plant.advance(sim.now())
    assert sim.plant.substations()["sst3"].drain == 25.0


async def test_writes_to_read_only_points_and_out_of_range_values_are_refused(
    sim: Simulation,
) -> None:
    rc, out = await mbpoll(sim, "sst1-gateway", "-r", "0", "-t", "4:float", "-B", write="3")
    assert rc != 0
    assert "Illegal data address" in out
    rc, out = await mbpoll(sim, "sst1-gateway", "-r", "2", "-t", "4:float", "-B", write="700")
    assert rc != 0
    assert "Illegal data value" in out
    assert sim.plant.commanded("sst1-gateway", "gateway") == -20.0
