"""Choose a driver for a configured device by its transport (a table, not an if-chain)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from config.site import Device
from device_drivers.base import DeviceDriver
from device_drivers.fake import FakeDriver
from device_drivers.modbus import LinkPool, ModbusDriver
from device_drivers.ocpp import CentralSystems, OcppDriver
from device_drivers.rtds import RtdsDriver, RtdsLinks

#: Where a device listens when it differs from the site file (simulators bound to port 0).
Address = tuple[str, int]


@dataclass(frozen=True)
class Pools:
    """What a node's drivers share: its Modbus links and its OCPP central systems (None: the
    charge points are not served here — they connect to their node)."""

    links: LinkPool
    central: CentralSystems | None = None
    rtds: RtdsLinks | None = None  # the node's rtds adapters (None: one link per device)


def _modbus(device: Device, pools: Pools, address: Address | None) -> DeviceDriver:
    entry, pool = device.entry, pools.links
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


def _fake(device: Device, pools: Pools, address: Address | None) -> DeviceDriver:
    entry = device.entry
    return FakeDriver(
        entry.id,
        device.profile,
        values=entry.values,
        verify=entry.verify,
        stale_after_s=entry.stale_after_s,
    )


def _ocpp(device: Device, pools: Pools, address: Address | None) -> DeviceDriver:
    entry = device.entry
    host, port = address or (entry.host or "127.0.0.1", entry.port or 0)
    central = pools.central.at(host, port) if pools.central is not None else None
    return OcppDriver(
        entry.id,
        device.profile,
        central=central,
        where=f"{host}:{port}",
        timeout_s=entry.timeout_s,
        stale_after_s=entry.stale_after_s,
    )


def _rtds(device: Device, pools: Pools, address: Address | None) -> DeviceDriver:
    assert device.rtds is not None  # the loader gives every rtds device its adapter
    adapter = device.rtds
    if address is not None:
        adapter = adapter.model_copy(update={"host": address[0], "port": address[1]})
    links = pools.rtds if pools.rtds is not None else RtdsLinks()
    return RtdsDriver(
        device.entry.id,
        device.profile,
        link=links.link(adapter),
        stale_after_s=device.entry.stale_after_s,
    )


TRANSPORTS: dict[str, Callable[[Device, Pools, Address | None], DeviceDriver]] = {
    "modbus_tcp": _modbus,
    "modbus_rtu": _modbus,
    "simulated": _modbus,  # the simulator serves Modbus; the device entry says TCP or RTU
    "fake": _fake,
    "ocpp": _ocpp,  # the charge point connects to the node's central system at host:port
    "rtds": _rtds,  # FREEDM's float-array socket, one connection per adapter
}


def build_driver(
    device: Device,
    pool: LinkPool,
    *,
    address: Address | None = None,
    central: CentralSystems | None = None,
    rtds: RtdsLinks | None = None,
) -> DeviceDriver:
    """A driver for ``device``; ``address`` overrides its TCP host:port (an ocpp device's:
    where its central system listens); ``central`` serves ocpp devices (without it their
    reads fail: a charge point is read through its node); ``rtds`` holds the links of the
    rtds adapters its devices share (one per adapter)."""
    return TRANSPORTS[device.entry.transport](device, Pools(pool, central, rtds), address)
