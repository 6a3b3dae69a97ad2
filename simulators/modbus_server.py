"""Modbus servers exposing simulated devices through their profiles (pymodbus server side).

Each simulated device becomes a pymodbus ``SimDevice`` with separate tables; each table is one
block spanning its points (gaps read as 0, like most real devices). The device's ``action``
bridges Modbus and the plant: on a read it refreshes the registers from the plant; on a write
it decodes the new value, refuses writes to read-only points (exception 2) and values outside
the point's min..max (exception 3), and passes the value to the plant — as a command for a
command point, or as an override for a settable state (dgiEnable, a load step).

Devices sharing a host:port (or serial port) are served by one server, one unit id each.
Over TCP the pymodbus server listens on a private loopback port behind a
:class:`~simulators.fault_front.FaultFront`, which owns the advertised host:port and injects
each device's link faults; value faults (a device reporting NaN, ±inf, out of range) are
applied here, where registers are filled from the plant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from config.profile import BIT_TABLES, Point
from config.site import Device
from device_drivers.codec import NO_VALUE, CodecError, decode, encode, encode_raw
from simulators.fault_front import FaultFront
from simulators.faults import DeviceFaults, forced_registers

log = logging.getLogger(__name__)

TABLES = ("coil", "discrete_input", "holding", "input")
_TABLE_OF_FUNCTION = {1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 4: "input"}
_TABLE_OF_FUNCTION.update(dict.fromkeys((3, 6, 16, 22, 23), "holding"))


class ServeError(RuntimeError):
    """A simulated device could not be served (address in use, bad serial port)."""


class PlantView(Protocol):
    """What a device image needs of the values behind it: the simulators'
    :class:`~simulators.plant.Plant`, or the simulation server's cells
    (:class:`hil.modbus.CellView`). ``None``: no value."""

    def advance(self, now: float) -> None: ...

    def read(self, device_id: str, signal: str) -> float | None: ...

    def commanded(self, device_id: str, signal: str) -> float | None: ...

    def command(self, device_id: str, signal: str, value: float) -> None: ...

    def override(self, device_id: str, signal: str, value: float) -> None: ...


@dataclass
class DeviceImage:
    """One simulated device on a server: its registers, kept in step with the plant."""

    device: Device
    plant: PlantView
    clock: Callable[[], float]
    faults: DeviceFaults = field(default_factory=DeviceFaults)
    writes: int = 0
    reads: int = 0
    _points: dict[str, list[Point]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for table in TABLES:
            self._points[table] = [p for p in self.device.profile.points if p.table == table]

    def sim_device(self) -> SimDevice:
        blocks = tuple(self._block(table) for table in TABLES)
        return SimDevice(
            id=self.device.entry.unit,
            simdata=blocks,  # type: ignore[arg-type]
            use_bit_addressing=True,
            action=self.action,
        )

    def _block(self, table: str) -> list[SimData]:
        points = self._points[table]
        if not points:  # pymodbus needs every table; the action refuses access to empty ones
            kind = DataType.BITS if table in BIT_TABLES else DataType.INVALID
            return (
                [SimData(address=0, values=[False] * 16, datatype=kind)]
                if kind == DataType.BITS
                else [SimData(address=0, datatype=kind)]
            )
        first = min(p.address for p in points)
        last = max(p.last_address for p in points)
        if table in BIT_TABLES:
            return [
                SimData(address=first, values=[False] * (last - first + 1), datatype=DataType.BITS)
            ]
        return [
            SimData(address=first, values=[0] * (last - first + 1), datatype=DataType.REGISTERS)
        ]

    def value_of(self, point: Point) -> float | None:
        """What the plant holds for a point: the state, or the last command for command points
        (a fixed point — a SunSpec marker, header or scale factor — holds its value)."""
        if point.fixed is not None:
            return point.fixed
        if point.is_state:
            return self.plant.read(self.device.id, point.signal)
        return self.plant.commanded(self.device.id, point.signal)

    async def action(
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """pymodbus calls this for every request, before it reads or writes the registers."""
        table = _TABLE_OF_FUNCTION[function_code]
        if not self._points[table]:
            return ExcCodes.ILLEGAL_ADDRESS
        self.plant.advance(self.clock())
        if set_values is None:
            self.reads += 1
            self._refresh(table, start_address, registers)
            return None
        return self._write(table, start_address, address, registers, list(set_values))

    def exponent(self, point: Point) -> int:
        """The power of ten of ``point``'s scale factor (the fixed value this device serves)."""
        if point.scale_factor is None:
            return 0
        return int(self.device.profile.point(point.scale_factor).fixed or 0)

    def _refresh(self, table: str, start: int, registers: list[int]) -> None:
        for point in self._points[table]:
            reported = self.faults.reported(point)
            value = self.value_of(point) if reported is None else reported
            if table in BIT_TABLES:
                index, bit = divmod(point.address, 16)
                mask = 1 << bit
                word = registers[index - start]
                registers[index - start] = word | mask if value else word & ~mask
                continue
            if reported is not None:
                words = forced_registers(point, reported)
            else:
                words = self._encoded(point, value)
            offset = point.address - start
            registers[offset : offset + point.count] = words

    def _encoded(self, point: Point, value: float | None) -> list[int]:
        """The registers of a value; no value: raw 1e8 in a float point (what the drivers
        read as no value), zeros in an integer point (which has no such encoding)."""
        try:
            if value is None:
                if point.type in ("float32", "float64"):
                    return encode_raw(NO_VALUE, point.type, point.word_order)
                return [0] * point.count
            return encode(point, value, self.exponent(point))
        except CodecError:
            return [0] * point.count

    def _write(
        self,
        table: str,
        start: int,
        address: int,
        registers: list[int],
        values: list[int] | list[bool],
    ) -> ExcCodes | None:
        end = address + len(values) - 1
        hit = [p for p in self._points[table] if p.address <= end and p.last_address >= address]
        covered = {a for p in hit for a in range(p.address, p.last_address + 1)}
        if any(not p.writable for p in hit) or not all(
            a in covered for a in range(address, end + 1)
        ):
            return ExcCodes.ILLEGAL_ADDRESS
        updates = []
        for point in hit:
            if table in BIT_TABLES:
                value = 1.0 if values[point.address - address] else 0.0
            else:
                image = list(registers)
                image[address - start : address - start + len(values)] = [int(v) for v in values]
                offset = point.address - start
                try:
                    decoded = decode(
                        point, image[offset : offset + point.count], self.exponent(point)
                    )
                except CodecError:
                    return ExcCodes.ILLEGAL_VALUE
                if decoded is None:
                    return ExcCodes.ILLEGAL_VALUE
                value = decoded
            if (point.min is not None and value < point.min) or (
                point.max is not None and value > point.max
            ):
                return ExcCodes.ILLEGAL_VALUE
            updates.append((point, value))
        for point, value in updates:
            if point.is_command:
                self.plant.command(self.device.id, point.signal, value)
            else:
                self.plant.override(self.device.id, point.signal, value)
            log.info("%s: %s written = %g", self.device.id, point.name, value)
        self.writes += 1
        return None


@dataclass
class RunningServer:
    """A started pymodbus server and the devices (unit ids) it serves."""

    where: str
    kind: str  # "tcp" or "rtu"
    server: ModbusTcpServer | ModbusSerialServer
    images: list[DeviceImage]
    host: str = ""
    port: int = 0
    front: FaultFront | None = None  # TCP: the listening side, where link faults happen
    running: bool = True

    async def stop(self) -> None:
        """Stop serving (idempotent)."""
        if not self.running:
            return
        self.running = False
        if self.front is not None:
            await self.front.stop()
        await self.server.shutdown()  # type: ignore[no-untyped-call]

    def drop_connections(self) -> None:
        """Close every client connection, as a rebooting device does."""
        if self.front is not None:
            self.front.drop_connections()


async def serve_tcp(
    host: str, port: int, images: list[DeviceImage], *, label: str | None = None
) -> RunningServer:
    """Serve ``images`` (one unit id each) on host:port; port 0 picks a free port. With a
    ``label``, each client connecting and leaving is logged under it."""
    names = ", ".join(image.device.id for image in images)
    server = ModbusTcpServer(
        [image.sim_device() for image in images],
        address=("127.0.0.1", 0),
        framer=FramerType.SOCKET,
    )
    try:
        await server.serve_forever(background=True)
    except (RuntimeError, OSError) as exc:
        raise ServeError(f"cannot serve {names}: {exc}") from exc
    backend = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    units = {image.device.entry.unit: image.faults for image in images}
    front = FaultFront(("127.0.0.1", backend), units.get, label=label)
    try:
        bound = await front.start(host, port)
    except OSError as exc:
        await server.shutdown()  # type: ignore[no-untyped-call]
        raise ServeError(f"cannot serve {names} on {host}:{port}: {exc} (address in use?)") from exc
    where = f"{host}:{bound}"
    return RunningServer(where, "tcp", server, images, host=host, port=bound, front=front)


async def serve_rtu(
    serial_port: str, images: list[DeviceImage], *, baudrate: int = 19200
) -> RunningServer:
    """Serve ``images`` as Modbus RTU units on a serial device (e.g. a socat pty)."""
    server = ModbusSerialServer(
        [image.sim_device() for image in images],
        port=serial_port,
        framer=FramerType.RTU,
        baudrate=baudrate,
        parity="N",
        bytesize=8,
        stopbits=1,
    )
    try:
        await server.serve_forever(background=True)
    except (RuntimeError, OSError) as exc:
        names = ", ".join(image.device.id for image in images)
        raise ServeError(f"cannot serve {names} on serial port {serial_port}: {exc}") from exc
    return RunningServer(serial_port, "rtu", server, images)


def group_by_endpoint(devices: Iterable[Device]) -> dict[tuple[str, str | int], list[Device]]:
    """TCP devices by (host, port), each port-0 device alone; RTU devices by serving path."""
    groups: dict[tuple[str, str | int], list[Device]] = {}
    for n, device in enumerate(devices):
        entry = device.entry
        sim = device.sim
        if sim is not None and sim.serve_serial_port:
            groups.setdefault(("rtu", sim.serve_serial_port), []).append(device)
        if not entry.serial_port:
            port: str | int = entry.port or f"any-{n}"
            groups.setdefault((entry.host or "127.0.0.1", port), []).append(device)
    return groups
