"""Device faults against the real simulator servers: exception responses, server loss, recovery."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import pytest

from config.profile import Point, Registers
from device_drivers.errors import DeviceConnectionError, DeviceExceptionError, DriverError
from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver
from simulators.runner import Simulation
from tests.helpers import example, on_any_port, read_until_fresh


async def test_illegal_address_names_device_table_and_addresses() -> None:
    site = on_any_port(example("single-node.toml"))
    async with Simulation(site) as sim:
        device = site.device("sst1-pv")
        extra = Point(
            name="reactive", signal="generation", location=Registers("holding", 40), type="float32",
            access="r", unit="kvar", scale=1.0, offset=0.0, min=None, max=None,
            failsafe=None, roles=frozenset(),
        )  # fmt: skip
        profile = dataclasses.replace(device.profile, points=(*device.profile.points, extra))
        pool = LinkPool()
        async with build_driver(
            dataclasses.replace(device, profile=profile),
            Connections(pool),
            address=sim.address(device.id),
        ) as driver:
            with pytest.raises(DeviceExceptionError) as caught:
                await driver.read_all()
        assert str(caught.value) == (
            "sst1-pv holding[40..41] read failed: Modbus exception 2 (illegal data address)"
        )
        assert caught.value.code == 2
        pool.close()


async def test_unknown_unit_id_is_a_device_error() -> None:
    site = on_any_port(example("single-node.toml"))
    async with Simulation(site) as sim:
        device = site.device("sst1-omega")
        wrong_unit = dataclasses.replace(device, entry=device.entry.model_copy(update={"unit": 9}))
        pool = LinkPool()
        async with build_driver(
            wrong_unit, Connections(pool), address=sim.address(device.id)
        ) as driver:
            with pytest.raises(DriverError, match=r"^sst1-omega holding\[0\.\.1\] read"):
                await driver.read_all()
        pool.close()


async def test_server_stopped_mid_run_then_back(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="device_drivers")
    site = on_any_port(example("single-node.toml"))
    async with Simulation(site) as sim:
        pool = LinkPool()
        device = site.device("sst1-gateway")
        async with build_driver(
            device, Connections(pool), address=sim.address(device.id)
        ) as driver:
            await driver.read_all()
            await sim.stop_server(device.id)
            started = asyncio.get_running_loop().time()
            with pytest.raises(DeviceConnectionError):
                await driver.read_all()
            # the lost connection is reported at once, not after the 1 s request timeout
            assert asyncio.get_running_loop().time() - started < 0.5
            errors = 0
            for _ in range(20):  # a node keeps polling; each failure is counted, logged once
                try:
                    await driver.read_all()
                except DriverError:
                    errors += 1
                await asyncio.sleep(0.05)
            assert errors == 20
            assert driver.is_stale()
            assert isinstance(driver.last_error, DeviceConnectionError)
            ours = [r for r in caplog.records if r.name.startswith("device_drivers")]
            warnings = [r for r in ours if r.levelno == logging.WARNING]
            assert len(warnings) == 1
            assert "sst1-gateway holding[0..3] read" in warnings[0].getMessage()
            await sim.restart_server(device.id)
            await read_until_fresh(driver)
            assert not driver.is_stale()
            recovered = [r for r in caplog.records if "recovered after" in r.getMessage()]
            assert recovered
            assert recovered[0].levelno == logging.INFO
        pool.close()
