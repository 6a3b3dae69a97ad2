"""Choose a driver for a configured device by its transport (a table, not an if-chain)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from config.site import Device
from device_drivers.base import DeviceDriver
from device_drivers.fake import FakeDriver
from device_drivers.modbus import LinkPool, ModbusDriver
from device_drivers.ocpp import CentralSystems, OcppDriver
from device_drivers.rtds import RtdsDriver, RtdsLinks

#: Where a device listens when it differs from the site file (simulators bound to port 0).
Address = tuple[str, int]


@dataclass
class Connections:
    """What a node's drivers share, by transport: its Modbus links, its OCPP central systems
    (None: the charge points are not served here — they connect to their node) and its rtds
    adapter links. Each factory takes only its own part."""

    modbus: LinkPool = field(default_factory=LinkPool)
    central: CentralSystems | None = None
    rtds: RtdsLinks = field(default_factory=RtdsLinks)

    def close(self) -> None:
        """Close the Modbus links (the drivers close the rest)."""
        self.modbus.close()


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


def _fake(device: Device) -> DeviceDriver:
    entry = device.entry
    return FakeDriver(
        entry.id,
        device.profile,
        values=entry.values,
        verify=entry.verify,
        stale_after_s=entry.stale_after_s,
    )


def _ocpp(device: Device, central: CentralSystems | None, address: Address | None) -> DeviceDriver:
    entry = device.entry
    host, port = address or (entry.host or "127.0.0.1", entry.port or 0)
    return OcppDriver(
        entry.id,
        device.profile,
        central=central.at(host, port) if central is not None else None,
        where=f"{host}:{port}",
        timeout_s=entry.timeout_s,
        stale_after_s=entry.stale_after_s,
    )


def _rtds(device: Device, links: RtdsLinks, address: Address | None) -> DeviceDriver:
    assert device.rtds is not None  # the loader gives every rtds device its adapter
    adapter = device.rtds
    if address is not None:
        adapter = adapter.model_copy(update={"host": address[0], "port": address[1]})
    return RtdsDriver(
        device.entry.id,
        device.profile,
        link=links.link(adapter),
        stale_after_s=device.entry.stale_after_s,
    )


Factory = Callable[[Device, Connections, "Address | None"], DeviceDriver]

TRANSPORTS: dict[str, Factory] = {
    "modbus_tcp": lambda d, c, a: _modbus(d, c.modbus, a),
    "modbus_rtu": lambda d, c, a: _modbus(d, c.modbus, a),
    # the simulator serves Modbus; the device entry says TCP or RTU
    "simulated": lambda d, c, a: _modbus(d, c.modbus, a),
    "fake": lambda d, c, a: _fake(d),
    # the charge point connects to the node's central system at host:port
    "ocpp": lambda d, c, a: _ocpp(d, c.central, a),
    # FREEDM's float-array socket, one connection per adapter
    "rtds": lambda d, c, a: _rtds(d, c.rtds, a),
}


def build_driver(
    device: Device, connections: Connections | None = None, *, address: Address | None = None
) -> DeviceDriver:
    """A driver for ``device`` sharing ``connections`` (None: its own); ``address`` overrides
    its TCP host:port (an ocpp device's: where its central system listens). Without a central
    system an ocpp device's reads fail (a charge point is read through its node)."""
    return TRANSPORTS[device.entry.transport](device, connections or Connections(), address)
