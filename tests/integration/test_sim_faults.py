"""The simulator's fault injection, seen through the real Modbus driver (as a node sees it)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import pytest

from device_drivers.base import DeviceDriver
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceExceptionError,
    DeviceTimeoutError,
    DeviceValueError,
    DriverError,
)
from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver
from simulators.faults import FaultError
from simulators.runner import Simulation
from tests.helpers import example, on_any_port, read_until_fresh, vary


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    site = vary(on_any_port(example("three-substations.toml")), lambda d: {"timeout_s": 0.3})
    async with Simulation(site) as running:
        yield running


@pytest.fixture
async def pool() -> AsyncIterator[LinkPool]:
    links = LinkPool()
    yield links
    links.close()


async def driver_for(sim: Simulation, pool: LinkPool, device_id: str) -> DeviceDriver:
    driver = build_driver(
        sim.site.device(device_id), Connections(pool), address=sim.address(device_id)
    )
    await driver.read_all()
    return driver


async def test_latency_with_jitter_delays_every_answer(sim: Simulation, pool: LinkPool) -> None:
    driver = await driver_for(sim, pool, "sst2-gateway")
    sim.faults("sst2-gateway").update({"latency_ms": 30, "jitter_ms": 20})
    took = []
    for _ in range(10):
        started = time.perf_counter()
        await driver.read_all()
        took.append(time.perf_counter() - started)
    assert min(took) >= 0.030, took
    assert max(took) <= 0.120, took
    assert max(took) - min(took) > 0.003  # jitter
    await driver.close()


@pytest.mark.parametrize(
    ("changes", "error", "text"),
    [
        ({"exception": 4}, DeviceExceptionError, "Modbus exception 4 (server device failure)"),
        ({"no_answer": True}, DeviceTimeoutError, "timed out after 0.3 s"),
        ({"close": True}, DeviceConnectionError, "connection to"),
        ({"garbage": True}, DeviceValueError, "the answer is not a Modbus response"),
    ],
    ids=["exception", "no-answer", "close", "garbage"],
)
async def test_link_faults_are_driver_errors(
    sim: Simulation, pool: LinkPool, changes: dict[str, object], error: type, text: str
) -> None:
    driver = await driver_for(sim, pool, "sst1-gateway")
    sim.faults("sst1-gateway").update(changes)
    with pytest.raises(error) as caught:
        await driver.read_all()
    assert text in str(caught.value)
    assert driver.is_stale()
    sim.faults("sst1-gateway").clear()
    await read_until_fresh(driver)
    assert not driver.is_stale()
    await driver.close()


async def test_a_flapping_device_fails_at_the_given_rate(sim: Simulation, pool: LinkPool) -> None:
    driver = await driver_for(sim, pool, "sst1-load")
    sim.faults("sst1-load").update({"exception": 4, "rate": 0.8, "seed": 7})
    outcomes = []
    for _ in range(50):
        try:
            await driver.read_all()
            outcomes.append(True)
        except DriverError:
            outcomes.append(False)
    assert 3 <= outcomes.count(True) <= 20, outcomes  # about one read in five succeeds
    await driver.close()


@pytest.mark.parametrize(
    ("point", "reported", "message"),
    [
        ("generation", math.nan, "generation = nan: not a finite number"),
        ("generation", math.inf, "generation = inf: not a finite number"),
        ("generation", -math.inf, "generation = -inf: not a finite number"),
        ("generation", 1e30, "generation = 1e+30: outside 0..1000 (profile drer-generation-v1)"),
        ("generation", -3.0, "generation = -3: outside 0..1000 (profile drer-generation-v1)"),
    ],
    ids=["nan", "inf", "-inf", "huge", "negative"],
)
async def test_implausible_values_are_device_faults(
    sim: Simulation, pool: LinkPool, point: str, reported: float, message: str
) -> None:
    driver = await driver_for(sim, pool, "sst1-pv")
    before = driver.values["generation"].value
    sim.faults("sst1-pv").update({"values": {point: reported}})
    with pytest.raises(DeviceValueError) as caught:
        await driver.read_all()
    assert str(caught.value) == f"sst1-pv holding[0..1] {message}"
    assert driver.values["generation"].value == before  # never stored
    assert driver.is_stale()
    sim.faults("sst1-pv").update({"values": {point: None}})
    await driver.read_all()
    assert driver.values["generation"].value == before
    await driver.close()


async def test_an_integer_register_saturates_out_of_range(sim: Simulation, pool: LinkPool) -> None:
    driver = await driver_for(sim, pool, "sst1-load")  # int32, scale 0.01
    sim.faults("sst1-load").update({"values": {"drain": 1e30}})
    with pytest.raises(DeviceValueError, match=r"drain = 2\.14748e\+07: outside 0\.\.1000"):
        await driver.read_all()
    await driver.close()


async def test_restart_brings_back_the_initial_values(sim: Simulation, pool: LinkPool) -> None:
    driver = await driver_for(sim, pool, "sst1-gateway")
    await driver.command("gateway", -10.0)
    await driver.read_all()
    assert driver.values["pstar"].value == -10.0
    sim.restart_device("sst1-gateway")
    await read_until_fresh(driver)  # its connection was dropped: the link reconnects
    await driver.read_all()
    assert driver.values["pstar"].value == -20.0  # initial_kw of sst1's gateway
    await driver.close()


def test_fault_changes_are_validated(sim: Simulation) -> None:
    faults = sim.faults("sst1-gateway")
    with pytest.raises(FaultError, match="latency_ms: must be >= 0"):
        faults.update({"latency_ms": -5})
    with pytest.raises(FaultError, match=r"rate: must be 0\.\.1"):
        faults.update({"rate": 2})
    with pytest.raises(FaultError, match="lag: Extra inputs are not permitted"):
        faults.update({"lag": 1})
    with pytest.raises(KeyError, match="no simulated device 'nope'"):
        sim.faults("nope")
    assert not faults.settings.active


async def test_other_devices_on_the_endpoint_are_not_affected(
    sim: Simulation, pool: LinkPool
) -> None:
    slow = await driver_for(sim, pool, "sst2-gateway")
    fast = await driver_for(sim, pool, "sst2-load")
    sim.faults("sst2-gateway").update({"latency_ms": 200})
    started = time.perf_counter()
    await asyncio.gather(fast.read_all(), fast.read_all())
    assert time.perf_counter() - started < 0.1
    await slow.close()
    await fast.close()


async def test_the_plant_changes_behind_the_node(pool: LinkPool) -> None:
    """``dgi fault --plant``: a Fid opens and closes (read over Modbus as a node reads it),
    a load steps; physics and unknown states are refused."""
    site = on_any_port(example("switched-ring.toml"))
    async with Simulation(site) as sim:
        fid = await driver_for(sim, pool, "sst2-west")
        assert fid.state("state") == 1.0
        assert sim.set_state("sst2-west", "state", False) == 0.0
        await fid.read_all()
        assert fid.state("state") == 0.0
        sim.set_state("sst2-west", "state", 1)
        await fid.read_all()
        assert fid.state("state") == 1.0
        assert sim.set_state("sst2-load", "drain", 40.5) == 40.5
        with pytest.raises(FaultError, match=r"state: an on/off state is 0 or 1, not 0\.5"):
            sim.set_state("sst2-west", "state", 0.5)
        with pytest.raises(FaultError, match=r"gateway: not a state of sst2-gateway a lab can"):
            sim.set_state("sst2-gateway", "gateway", 3.0)
        with pytest.raises(FaultError, match="drain: must be a finite number"):
            sim.set_state("sst2-load", "drain", math.nan)
        with pytest.raises(KeyError, match="no simulated device 'nope'"):
            sim.set_state("nope", "state", 0)
        await fid.close()
