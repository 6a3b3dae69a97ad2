"""The cells of a device as a Modbus/TCP server (``[[modbus]]``, :mod:`hil.extensions`).

Served by the simulators' own Modbus server code (:mod:`simulators.modbus_server`, the only
module that speaks pymodbus): each exposure is a :class:`~simulators.modbus_server.DeviceImage`
of the device's profile whose values come from the cells instead of a plant
(:class:`CellView`). A read of a state point returns the state cell, of a command point the
command cell; a write of a command point sets the command cell (so PSCAD's ``GET``, an rtds
controller and the built-in plant see it), a write of a writable state point sets the state
cell. The image's checks hold as in ``dgi simulate``: read-only points and values outside a
point's min..max are refused with Modbus exceptions 2 and 3.

A cell holding 1e8 (no value), or a point whose (device, signal) no cell has, reads as no value:
raw 1e8 in a float point (what this project's drivers decode as no value), zeros in an integer
or bit point, which have no such encoding. Exposures on one host:port share a server, one
unit id each. Nothing polls: a request reads the cells when it arrives.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from config.site import Device, DeviceEntry
from hil.cells import NO_VALUE, Cells
from hil.extensions import ModbusExposure
from simulators.modbus_server import DeviceImage, RunningServer, serve_tcp


@dataclass
class CellView:
    """The cells, as a device image sees a plant."""

    cells: Cells

    def advance(self, now: float) -> None:
        """Nothing to integrate: the cells hold the values as they were written."""

    def read(self, device_id: str, signal: str) -> float | None:
        return _value(self.cells.state((device_id, signal)))

    def commanded(self, device_id: str, signal: str) -> float | None:
        return _value(self.cells.command((device_id, signal)))

    def command(self, device_id: str, signal: str, value: float) -> None:
        self.cells.set_command((device_id, signal), value)

    def override(self, device_id: str, signal: str, value: float) -> None:
        self.cells.set_state((device_id, signal), value)


def _value(value: float) -> float | None:
    return None if value == NO_VALUE else value


def exposed_device(exposure: ModbusExposure) -> Device:
    """The exposure as a device the image serves (its id, type, profile and unit id)."""
    entry = DeviceEntry(
        id=exposure.device,
        type=exposure.type,
        transport="modbus_tcp",
        profile=exposure.profile.name,
        host=exposure.host,
        port=exposure.port,
        unit=exposure.unit,
    )
    return Device("simserver", entry, exposure.profile, None)


def without_cells(exposure: ModbusExposure, cells: Cells) -> list[str]:
    """The profile's state points whose (device, signal) no state cell has: they always read
    as no value (a driver then takes the device for one not measuring)."""
    return [
        point.name
        for point in exposure.profile.points
        if point.is_state
        and point.fixed is None
        and (exposure.device, point.signal) not in cells.states
    ]


def endpoints(exposures: Iterable[ModbusExposure]) -> dict[tuple[str, int | str], list[int]]:
    """Exposure indices by (host, port); each port-0 exposure alone."""
    groups: dict[tuple[str, int | str], list[int]] = {}
    for n, exposure in enumerate(exposures):
        port: int | str = exposure.port or f"any-{n}"
        groups.setdefault((exposure.host, port), []).append(n)
    return groups


async def serve_cells(exposures: tuple[ModbusExposure, ...], cells: Cells) -> list[RunningServer]:
    """Start a Modbus/TCP server per endpoint of ``exposures`` over ``cells``; on an error
    (:class:`~simulators.modbus_server.ServeError`) the ones started are stopped again."""
    view = CellView(cells)
    servers: list[RunningServer] = []
    try:
        for (host, port), indices in endpoints(exposures).items():
            images = [
                DeviceImage(exposed_device(exposures[i]), view, time.monotonic) for i in indices
            ]
            names = ", ".join(exposures[i].device for i in indices)
            servers.append(
                await serve_tcp(
                    host, port if isinstance(port, int) else 0, images, label=f"modbus {names}"
                )
            )
    except BaseException:
        for server in servers:
            await server.stop()
        raise
    return servers
