"""One driver contract, run against every backend: the in-memory fake, the simulator's Modbus/TCP
servers on 127.0.0.1, Modbus RTU over a socat pty pair, and FREEDM's rtds socket against the
simulation server. :class:`DriverContract` is what every transport owes (points, values,
staleness, range checks, commands, recovery); :class:`RegisterContract` adds what a register
driver owes on top (blocks, verify by read-back, failsafe values, the example's every device)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.profile import Profile
from config.site import Site
from device_drivers.base import DeviceDriver
from device_drivers.codec import decode
from device_drivers.errors import DeviceRangeError, DriverError
from device_drivers.facades import Desd, Evse, Fid, Logger, Sst, facade_for
from device_drivers.fake import FakeDriver
from device_drivers.modbus import LinkPool
from device_drivers.registers import RegisterDriver
from device_drivers.registry import Connections, build_driver
from device_drivers.rtds import RtdsDriver
from hil.loader import load_simserver_config
from hil.server import SimServer
from simulators.runner import Simulation
from tests.conftest import EXAMPLES
from tests.helpers import example, on_any_port, on_rtu_bus, read_until_fresh
from tests.integration.test_rtds import site_for


@dataclass
class Harness:
    """Drivers for one node's devices, what the backend holds, and how to break it."""

    drivers: dict[str, DeviceDriver]
    held_by: Callable[[str, str], float | None]  # (device, point name) -> what the device holds
    set_state: Callable[[str, str, float], Awaitable[None]]  # (device, signal, value)
    break_device: Callable[[str], Awaitable[None]]
    heal_device: Callable[[str], Awaitable[None]]

    def held(self, device_id: str, point_name: str) -> float | None:
        return self.held_by(device_id, point_name)


def command_point(driver: DeviceDriver, signal: str) -> str:
    point = driver.profile.command_point(signal)
    assert point is not None, signal
    return point.name


class DriverContract:
    """The behaviour every driver backend must have, whatever carries its points."""

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

    async def test_command_reaches_the_device(self, harness: Harness) -> None:
        sst = Sst(harness.drivers["sst1-gateway"])
        await sst.set_gateway(7.25)
        assert harness.held("sst1-gateway", command_point(sst.driver, "gateway")) == 7.25

    async def test_out_of_range_write_is_refused_without_io(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-gateway"]
        name = command_point(driver, "gateway")
        before, held = driver.stats.requests, harness.held("sst1-gateway", name)
        with pytest.raises(
            DeviceRangeError, match=rf"sst1-gateway {name} = 500.0: outside -100.0..100.0"
        ):
            await driver.command("gateway", 500.0)
        assert driver.stats.requests == before
        assert harness.held("sst1-gateway", name) == held
        assert driver.last_error is None  # refused before sending: not the device's failure

    async def test_read_only_point_cannot_be_written(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-gateway"]
        state = driver.profile.state_point("gateway")
        assert state is not None
        where = re.escape(state.span())
        with pytest.raises(
            DriverError, match=rf"sst1-gateway {state.name} \({where}\) is read-only"
        ):
            await driver.write(state.name, 1.0)

    async def test_facades_by_device_type(self, harness: Harness) -> None:
        kinds = {
            d.profile.device_type: type(facade_for(d)).__name__ for d in harness.drivers.values()
        }
        assert all(kind == name for kind, name in kinds.items())

    async def test_logger_enable_follows_the_device(self, harness: Harness) -> None:
        logger = harness.drivers["sst1-logger"]
        await harness.set_state("sst1-logger", "dgiEnable", 1.0)
        await read_until_fresh(logger)
        assert Logger(logger).dgi_enable is True
        await harness.set_state("sst1-logger", "dgiEnable", 0.0)
        await read_until_value(logger, "dgiEnable", 0.0)
        assert Logger(logger).dgi_enable is False

    async def test_group_status_bits(self, harness: Harness) -> None:
        logger = harness.drivers["sst1-logger"]
        await Logger(logger).set_group_status(0b1011)
        name = command_point(logger, "groupStatus")
        held = harness.held("sst1-logger", name)
        assert held is not None
        if logger.profile.point(name).type == "float32":  # FREEDM's: the bits as a float
            held = struct.unpack(">I", struct.pack(">f", held))[0]
        assert held == 0b1011

    async def test_failure_makes_the_device_stale_then_it_recovers(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-pv"]
        await read_until_fresh(driver)
        assert not driver.is_stale()
        await harness.break_device("sst1-pv")
        failures = []
        for _ in range(30):
            try:
                await driver.read_all()
            except DriverError as exc:
                failures.append(str(exc))
                if len(failures) == 3:
                    break
            await asyncio.sleep(0.05)  # a link that notices the loss on its next cycle
        assert failures
        assert all(f.startswith("sst1-pv ") for f in failures), failures
        assert driver.is_stale()
        assert driver.stats.errors >= 1
        await harness.heal_device("sst1-pv")
        await read_until_fresh(driver)  # the link retries with backoff; no manual action needed
        assert not driver.is_stale()
        assert driver.last_error is None


async def read_until_value(driver: DeviceDriver, signal: str, value: float) -> None:
    """Read until the state ``signal`` is ``value`` (a transport that delivers on a cycle)."""
    for _ in range(100):
        with contextlib.suppress(DriverError):
            await driver.read_all()
        if driver.state(signal) == value:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{driver.device_id} {signal} never read {value}")


class RegisterContract(DriverContract):
    """What a register driver owes on top, on the single-node example's eight devices."""

    async def test_one_request_per_block(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-storage"]
        assert isinstance(driver, RegisterDriver)
        await driver.read_all()
        assert driver.stats.requests == len(driver.blocks) == 1

    async def test_command_reads_back(self, harness: Harness) -> None:
        sst = Sst(harness.drivers["sst1-gateway"])
        await sst.set_gateway(7.25)
        await sst.driver.read_all()
        assert sst.driver.values["pstar"].value == 7.25

    async def test_read_only_register_message(self, harness: Harness) -> None:
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
            for point in driver.failsafe_points():
                await driver.write_failsafe(point)
        assert harness.held("sst1-gateway", "pstar") == 0.0
        assert harness.held("sst1-evse", "power_limit") == 0.0

    async def test_facades_read_typed_values(self, harness: Harness) -> None:
        await asyncio.gather(*(d.read_all() for d in harness.drivers.values()))
        assert Fid(harness.drivers["sst1-fid"]).closed is True
        assert Desd(harness.drivers["sst1-storage"]).soc == pytest.approx(60.0)
        assert Evse(harness.drivers["sst1-evse"]).connected is True

    async def test_failure_names_the_registers(self, harness: Harness) -> None:
        driver = harness.drivers["sst1-pv"]
        await harness.break_device("sst1-pv")
        with pytest.raises(DriverError, match=r"^sst1-pv holding\[0\.\.1\] read"):
            await driver.read_all()
        await harness.heal_device("sst1-pv")


async def _close(drivers: dict[str, DeviceDriver]) -> None:
    for driver in drivers.values():
        await driver.close()


class TestFakeDriver(RegisterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        site = example("single-node.toml")
        initial = {
            "sst1-storage": {"soc": 60.0},
            "sst1-logger": {"dgiEnable": 1.0},
            "sst1-fid": {"state": 1.0},
            "sst1-evse": {"connected": 1.0},
        }
        fakes = {
            d.id: FakeDriver(d.id, d.profile, values=initial.get(d.id, {})) for d in site.devices
        }

        def held(device_id: str, name: str) -> float | None:
            point, cells = fakes[device_id].profile.point(name), fakes[device_id].image.cells
            return decode(
                point, [cells[(point.table, point.address + i)] for i in range(point.count)]
            )

        async def set_state(device_id: str, signal: str, value: float) -> None:
            point = fakes[device_id].profile.state_point(signal)
            assert point is not None
            await fakes[device_id].write(point.name, value)

        async def offline(device_id: str, down: bool) -> None:
            fakes[device_id].faults.offline = down

        drivers: dict[str, DeviceDriver] = dict(fakes)
        yield Harness(
            drivers, held, set_state, lambda d: offline(d, True), lambda d: offline(d, False)
        )
        await _close(drivers)


async def simulated(site: Site) -> AsyncIterator[Harness]:
    async with Simulation(site) as sim:
        pool = LinkPool()
        drivers = {}
        for device in site.devices:
            address = sim.address(device.id) if not device.entry.serial_port else None
            drivers[device.id] = build_driver(device, Connections(pool), address=address)

        def held(device_id: str, name: str) -> float | None:
            sim.plant.advance(sim.now())
            return sim.images[device_id].value_of(drivers[device_id].profile.point(name))

        async def set_state(device_id: str, signal: str, value: float) -> None:
            sim.plant.override(device_id, signal, value)

        try:
            yield Harness(drivers, held, set_state, sim.stop_server, sim.restart_server)
        finally:
            await _close(drivers)
            pool.close()


class TestModbusTcpDriver(RegisterContract):
    @pytest.fixture
    async def harness(self) -> AsyncIterator[Harness]:
        async for harness in simulated(on_any_port(example("single-node.toml"))):
            yield harness


class TestModbusRtuDriver(RegisterContract):
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


def limited(profile: Profile, name: str, low: float, high: float) -> Profile:
    """``profile`` with limits on point ``name`` (as the Modbus example's gateway has)."""
    points = tuple(
        dataclasses.replace(p, min=low, max=high) if p.name == name else p for p in profile.points
    )
    return dataclasses.replace(profile, points=points)


class TestRtdsDriver(DriverContract):
    """sst1's six devices on one rtds adapter of the simulation server (in this process); the
    server is stopped to break a device and started again on its port (the test's own, just
    released) over the same cells to heal it."""

    @pytest.fixture
    async def harness(self, tmp_path: Path) -> AsyncIterator[Harness]:
        text = re.sub(r"(?m)^port = \d+", "port = 0", (EXAMPLES / "simserver.toml").read_text())
        path = tmp_path / "simserver.toml"
        path.write_text(text)
        servers = [SimServer(load_simserver_config(path))]
        await servers[0].start()
        port = servers[0].address("sst1")[1]
        site = site_for(tmp_path, {"sst1": port})
        connections = Connections()
        drivers: dict[str, DeviceDriver] = {}
        for device in site.devices_of("sst1"):
            if device.type == "Sst":
                profile = limited(device.profile, "gateway_command", -100.0, 100.0)
                device = dataclasses.replace(device, profile=profile)
            drivers[device.id] = build_driver(device, connections)
        cells = servers[0].cells

        def held(device_id: str, name: str) -> float | None:
            point = drivers[device_id].profile.point(name)
            key = (device_id, point.signal)
            return cells.state(key) if point.is_state else cells.command(key)

        async def set_state(device_id: str, signal: str, value: float) -> None:
            cells.set_state((device_id, signal), value)

        async def stop(device_id: str) -> None:
            await servers[-1].stop()

        async def start(device_id: str) -> None:
            path.write_text(text.replace('name = "sst1"\ntype = "rtds"\nport = 0',
                                         f'name = "sst1"\ntype = "rtds"\nport = {port}'))  # fmt: skip
            servers.append(SimServer(load_simserver_config(path), cells))
            await servers[-1].start()

        for driver in drivers.values():
            await read_until_fresh(driver)
        try:
            yield Harness(drivers, held, set_state, stop, start)
        finally:
            await _close(drivers)
            await servers[-1].stop()

    async def test_devices_share_one_link(self, harness: Harness) -> None:
        drivers = list(harness.drivers.values())
        assert all(isinstance(d, RtdsDriver) for d in drivers)
        assert len({id(d.link) for d in drivers if isinstance(d, RtdsDriver)}) == 1
