"""Choose a driver for a configured device by its transport (a table, not an if-chain)."""

from __future__ import annotations

from collections.abc import Callable

from config.site import Device
from device_drivers.base import DeviceDriver
from device_drivers.fake import FakeDriver
from device_drivers.modbus import LinkPool, ModbusDriver

#: Where a device listens when it differs from the site file (simulators bound to port 0).
Address = tuple[str, int]


def _modbus(device: Device, pool: LinkPool, address: Address | None) -> DeviceDriver:
    entry = device.entry
    if entry.serial_port:
        link = pool.rtu(
            entry.serial_port,
            timeout_s=entry.timeout_s,
            baudrate=entry.baudrate,
            parity=entry.parity,
            bytesize=entry.bytesize,
            stopbits=entry.stopbits,
        )
    else:
        host, port = address or (entry.host or "127.0.0.1", entry.port or 0)
        link = pool.tcp(host, port, timeout_s=entry.timeout_s)
    return ModbusDriver(
        entry.id,
        device.profile,
        pool=pool,
        link=link,
        unit=entry.unit,
        verify=entry.verify,
        stale_after_s=entry.stale_after_s,
    )


def _fake(device: Device, pool: LinkPool, address: Address | None) -> DeviceDriver:
    entry = device.entry
    return FakeDriver(
        entry.id,
        device.profile,
        values=entry.values,
        verify=entry.verify,
        stale_after_s=entry.stale_after_s,
    )


TRANSPORTS: dict[str, Callable[[Device, LinkPool, Address | None], DeviceDriver]] = {
    "modbus_tcp": _modbus,
    "modbus_rtu": _modbus,
    "simulated": _modbus,  # the simulator serves Modbus; the device entry says TCP or RTU
    "fake": _fake,
}


def build_driver(device: Device, pool: LinkPool, *, address: Address | None = None) -> DeviceDriver:
    """A driver for ``device``; ``address`` overrides its TCP host:port."""
    return TRANSPORTS[device.entry.transport](device, pool, address)
