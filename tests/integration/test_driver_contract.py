"""One driver contract, run against every backend: the in-memory fake, the simulator's Modbus/TCP
servers on 127.0.0.1, and Modbus RTU over a socat pty pair."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from config.site import Site
from device_drivers.base import DeviceDriver
from device_drivers.codec import decode
from device_drivers.errors import DeviceRangeError, DriverError
from device_drivers.facades import Desd, Evse, Fid, Logger, Sst, facade_for
from device_drivers.fake import FakeDriver
from device_drivers.modbus import LinkPool
from device_drivers.registry import build_driver
from simulators.runner import Simulation
from tests.helpers import example, on_any_port, on_rtu_bus, read_until_fresh


@dataclass
class Harness:
    """Drivers for the single-node example, plus what the backend holds and how to break it."""

    drivers: dict[str, DeviceDriver]
    sim: Simulation | None = None
    broken: set[str] = field(default_factory=set)

    def held(self, device_id: str, point_name: str) -> float | None:
        driver = self.drivers[device_id]
        point = driver.profile.point(point_name)
        if isinstance(driver, FakeDriver):
            cells = driver.image.cells
            return decode(
                point, [cells[(point.table, point.address + i)] for i in range(point.count)]
            )
        assert self.sim is not None
        image = self.sim.images[device_id]
        self.sim.plant.advance(self.sim.now())
        return image.value_of(point)

    async def set_state(self, device_id: str, signal: str, value: float) -> None:
        driver = self.drivers[device_id]
        if isinstance(driver, FakeDriver):
            point = driver.profile.state_point(signal)
            assert point is not None
            await driver.write(point.name, value)
        else:
            assert self.sim is not None
            self.sim.plant.override(device_id, signal, value)

    async def break_device(self, device_id: str) -> None:
        driver = self.drivers[device_id]
        if isinstance(driver, FakeDriver):
            driver.faults.offline = True
        else:
            assert self.sim is not None
            await self.sim.stop_server(device_id)

    async def heal_device(self, device_id: str) -> None:
        driver = self.drivers[device_id]
        if isinstance(driver, FakeDriver):
            driver.faults.offline = False
        else:
            assert self.sim is not None
            await self.sim.restart_server(device_id)


class DriverContract:
    """The behaviour every driver backend must have."""

    @pytest.fixture
    def harness(self) -> Harness:
        raise NotImplementedError("each backend provides its harness")

    async def test_read_all_returns_every_readable_point(self, harness: Harness) -> None:
        for device_id, driver in harness.drivers.items():
            reading = await driver.read_all()
            readable = {p.name for p in driver.profile.points if p.readable}
            assert set(reading.values) == readable, device_id
            for name, value in reading.values.items():
                assert value.value == pytest.approx(harness.held(device_id, name), abs=1e-3), name

    async def test_one_request_per_block(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-storage"]
        await driver.read_all()
        assert driver.stats.requests == len(driver.blocks) == 1

    async def test_command_reaches_the_device(self, harness: Harness) -> None:
        sst = Sst(harness.drivers["sst1-gateway"])
        await sst.set_gateway(7.25)
        assert harness.held("sst1-gateway", "pstar") == 7.25
        await sst.driver.read_all()
        assert sst.driver.values["pstar"].value == 7.25

    async def test_out_of_range_write_is_refused_without_io(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-gateway"]
        before = driver.stats.requests
        with pytest.raises(
            DeviceRangeError, match=r"sst1-gateway pstar = 500.0: outside -100.0..100.0"
        ):
            await driver.command("gateway", 500.0)
        assert driver.stats.requests == before
        assert harness.held("sst1-gateway", "pstar") == 0.0

    async def test_read_only_point_cannot_be_written(self, harness: Harness) -> None:
        with pytest.raises(
            DriverError, match=r"sst1-gateway gateway \(holding\[0\.\.1\]\) is read-only"
        ):
            await harness.drivers["sst1-gateway"].write("gateway", 1.0)

    async def test_verify_after_write(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-storage"]
        driver.verify = True
        await Desd(driver).set_storage(-3.5)
        assert driver.stats.requests == 2  # the write and its read-back
        assert harness.held("sst1-storage", "storage_setpoint") == -3.5

    async def test_failsafe_values_are_written(self, harness: Harness) -> None:
        await Sst(harness.drivers["sst1-gateway"]).set_gateway(12.0)
        await Evse(harness.drivers["sst1-evse"]).set_power_limit(11.0)
        for device_id in ("sst1-gateway", "sst1-evse"):
            driver = harness.drivers[device_id]
            for point in driver.profile.points:
                if point.writable and point.failsafe is not None:
                    await driver.write(point.name, point.failsafe)
        assert harness.held("sst1-gateway", "pstar") == 0.0
        assert harness.held("sst1-evse", "power_limit") == 0.0

    async def test_facades_read_typed_values(self, harness: Harness) -> None:
        await asyncio.gather(*(d.read_all() for d in harness.drivers.values()))
        assert Logger(harness.drivers["sst1-logger"]).dgi_enable is True
        assert Fid(harness.drivers["sst1-fid"]).closed is True
        assert Desd(harness.drivers["sst1-storage"]).soc == pytest.approx(60.0)
        assert Evse(harness.drivers["sst1-evse"]).connected is True
        await harness.set_state("sst1-logger", "dgiEnable", 0.0)
        await harness.drivers["sst1-logger"].read_all()
        assert Logger(harness.drivers["sst1-logger"]).dgi_enable is False

    async def test_facades_by_device_type(self, harness: Harness) -> None:
        kinds = {
            d.profile.device_type: type(facade_for(d)).__name__ for d in harness.drivers.values()
        }
        assert all(kind == name for kind, name in kinds.items())

    async def test_group_status_bits(self, harness: Harness) -> None:
        await Logger(harness.drivers["sst1-logger"]).set_group_status(0b1011)
        assert harness.held("sst1-logger", "groupStatus") == 0b1011

    async def test_failure_makes_the_device_stale_then_it_recovers(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-pv"]
        await driver.read_all()
        assert not driver.is_stale()
        await harness.break_device("sst1-pv")
        failures = []
        for _ in range(3):
            try:
                await driver.read_all()
            except DriverError as exc:
                failures.append(str(exc))
        assert failures
        assert all(f.startswith("sst1-pv holding[0..1] read") for f in failures), failures
        assert driver.is_stale()
        assert driver.stats.errors >= 1
        await harness.heal_device("sst1-pv")
        await read_until_fresh(driver)  # the link retries with backoff; no manual action needed
        assert not driver.is_stale()
        assert driver.last_error is None


async def _close(drivers: dict[str, DeviceDriver]) -> None:
    for driver in drivers.values():
        await driver.close()


class TestFakeDriver(DriverContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        site = example("single-node.toml")
        initial = {
            "sst1-storage": {"soc": 60.0},
            "sst1-logger": {"dgiEnable": 1.0},
            "sst1-fid": {"state": 1.0},
            "sst1-evse": {"connected": 1.0},
        }
        drivers: dict[str, DeviceDriver] = {
            d.id: FakeDriver(d.id, d.profile, values=initial.get(d.id, {})) for d in site.devices
        }
        yield Harness(drivers)
        await _close(drivers)


async def simulated(site: Site) -> AsyncIterator[Harness]:
    async with Simulation(site) as sim:
        pool = LinkPool()
        drivers = {}
        for device in site.devices:
            address = sim.address(device.id) if not device.entry.serial_port else None
            drivers[device.id] = build_driver(device, pool, address=address)
        try:
            yield Harness(drivers, sim)
        finally:
            await _close(drivers)
            pool.close()


class TestModbusTcpDriver(DriverContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        async for harness in simulated(on_any_port(example("single-node.toml"))):
            yield harness


class TestModbusRtuDriver(DriverContract):
    """All eight devices as units 1..8 on one RS-485 bus: a socat pty pair."""

    @pytest.fixture
    async def harness(self, pty_pair: tuple[str, str]) -> AsyncIterator[Harness]:
        server_end, client_end = pty_pair
        async for harness in simulated(
            on_rtu_bus(example("single-node.toml"), server_end, client_end)
        ):
            yield harness

    async def test_devices_share_one_link(self, harness: Harness) -> None:
        links = {id(getattr(d, "link", None)) for d in harness.drivers.values()}
        assert len(links) == 1
