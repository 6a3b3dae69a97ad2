"""Run a site's simulated plant behind its Modbus servers and OCPP charge points (what
``dgi simulate`` does). A charge point is a client: it connects to its node's central system.

>>> async with Simulation(site) as sim:          # doctest: +SKIP
...     host, port = sim.address("sst1-gateway")
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from types import TracebackType

from config.settings import PlantKind
from config.simulation import FaultSettings
from config.site import Site
from simulators.charge_point import SimulatedChargePoint
from simulators.control import ControlServer
from simulators.faults import DeviceFaults, FaultError
from simulators.modbus_server import (
    DeviceImage,
    RunningServer,
    ServeError,
    group_by_endpoint,
    serve_rtu,
    serve_tcp,
)
from simulators.plant import Plant
from simulators.site_plant import build_plant, initial_model

#: The states a lab may set directly (``dgi fault --plant``), by device type; the others are
#: the plant's own physics (an SST's gateway, a battery's charge, the bus frequency).
SETTABLE_STATES = {
    "Fid": ("state",),
    "Logger": ("dgiEnable",),
    "Drer": ("generation",),
    "Load": ("drain",),
    "Evse": ("connected",),
}


class Simulation:
    """The plant of every ``simulated`` device of a site, served over Modbus, and of every
    simulated OCPP charge point, connecting to its node. ``plant`` overrides ``[simulation]
    plant`` (raises :class:`~simulators.site_plant.PlantError` when it cannot be built)."""

    def __init__(
        self,
        site: Site,
        *,
        clock: Callable[[], float] = time.monotonic,
        control: tuple[str, int] | None = None,
        plant: PlantKind | None = None,
    ) -> None:
        self.site = site
        self.control_address = control
        self.control: ControlServer | None = None
        self._clock = clock
        self._t0 = clock()
        self.plant: Plant = build_plant(site, start=0.0, plant=plant)  # PlantError
        self.images = {
            d.id: DeviceImage(
                d, self.plant, self.now, DeviceFaults.of(d.sim.faults if d.sim else FaultSettings())
            )
            for d in site.devices
            if d.simulated
        }
        self.servers: list[RunningServer] = []
        self.charge_points = {
            d.id: SimulatedChargePoint(d, self.plant, self.now)
            for d in site.devices
            if d.simulated_charge_point
        }

    def now(self) -> float:
        """Seconds since the simulation started (the plant's time)."""
        return self._clock() - self._t0

    async def start(self) -> None:
        devices = [image.device for image in self.images.values()]
        try:
            for (kind, where), group in group_by_endpoint(devices).items():
                images = [self.images[d.id] for d in group]
                if kind == "rtu":
                    self.servers.append(await serve_rtu(str(where), images))
                else:
                    port = where if isinstance(where, int) else 0
                    self.servers.append(await serve_tcp(kind, port, images))
            for charge_point in self.charge_points.values():
                charge_point.start()
            if self.control_address is not None:
                self.control = ControlServer(self)
                try:
                    await self.control.start(*self.control_address)
                except OSError as exc:
                    host, port = self.control_address
                    raise ServeError(f"cannot listen for control on {host}:{port}: {exc}") from exc
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop every server and charge point (idempotent)."""
        for charge_point in self.charge_points.values():
            await charge_point.stop()
        if self.control is not None:
            await self.control.stop()
            self.control = None
        servers, self.servers = self.servers, []
        for server in servers:
            await server.stop()

    def address(self, device_id: str) -> tuple[str, int]:
        """Where a device is served over TCP (the real port when the site said 0)."""
        for server in self.servers:
            if server.kind == "tcp" and any(i.device.id == device_id for i in server.images):
                return server.host, server.port
        raise KeyError(f"{device_id} is not served over TCP")

    def charge_point(self, device_id: str) -> SimulatedChargePoint:
        try:
            return self.charge_points[device_id]
        except KeyError:
            known = ", ".join(sorted(self.charge_points)) or "none"
            raise KeyError(f"{device_id} is not a simulated charge point; those: {known}") from None

    def endpoint(self, device_id: str) -> str:
        """Where a device is served, or where a charge point connects to."""
        if device_id in self.charge_points:
            return self.charge_points[device_id].url
        return str(self.server_of(device_id).where)

    def server_of(self, device_id: str) -> RunningServer:
        for server in self.servers:
            if any(i.device.id == device_id for i in server.images):
                return server
        raise KeyError(f"{device_id} is not served")

    async def stop_server(self, device_id: str) -> None:
        """Stop one device's server (fault injection); :meth:`restart_server` brings it back.
        A charge point drops its connection and stays away."""
        if device_id in self.charge_points:
            await self.charge_points[device_id].go_offline()
            return
        server = self.server_of(device_id)
        await server.stop()

    async def restart_server(self, device_id: str) -> None:
        if device_id in self.charge_points:
            charge_point = self.charge_points[device_id]
            if charge_point.online:
                raise ServeError(f"{device_id} is online already ({charge_point.url})")
            charge_point.go_online()
            return
        server = self.server_of(device_id)
        if server.running:
            raise ServeError(f"{device_id} is being served already ({server.where})")
        index = self.servers.index(server)
        if server.kind == "rtu":
            self.servers[index] = await serve_rtu(server.where, server.images)
        else:
            self.servers[index] = await serve_tcp(server.host, server.port, server.images)

    # -- fault injection ------------------------------------------------------------------------

    def faults(self, device_id: str) -> DeviceFaults:
        try:
            return self.images[device_id].faults
        except KeyError:
            known = ", ".join(sorted(self.images))
            if device_id in self.charge_points:
                raise KeyError(
                    f"{device_id} is an OCPP charge point: it has no Modbus faults"
                ) from None
            raise KeyError(f"no simulated device {device_id!r}; devices: {known}") from None

    def require(self, device_id: str) -> None:
        """KeyError naming the simulated devices unless ``device_id`` is one of them."""
        if device_id not in self.charge_points:
            self.faults(device_id)  # KeyError naming the simulated devices

    def restart_device(self, device_id: str) -> None:
        """The device reboots: its connections drop and its values return to their initial
        ones (a PStar back at ``initial_kw``, as a real SST after a power cycle; a charge
        point without its transactions, booting again)."""
        self.require(device_id)
        self.plant.reset(device_id, initial_model(self.site, self.site.device(device_id)))
        if device_id in self.charge_points:
            self.charge_points[device_id].reboot()
            return
        self.server_of(device_id).drop_connections()

    def set_state(self, device_id: str, signal: str, value: object) -> float:
        """The plant changes behind the node's back: a Fid opens (``state`` 0), a load steps.
        The value holds until the device restarts; returns it as the plant holds it."""
        self.require(device_id)
        device = self.site.device(device_id)
        settable = SETTABLE_STATES.get(device.type, ())
        if signal not in settable:
            allowed = ", ".join(settable) or "none"
            raise FaultError(
                f"{signal}: not a state of {device_id} a lab can set ({device.type}: {allowed})"
            )
        if isinstance(value, bool):
            value = float(value)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            raise FaultError(f"{signal}: must be a finite number, not {value!r}")
        point = device.profile.state_point(signal)
        if point is not None and point.type == "bool" and value not in (0, 1):
            raise FaultError(f"{signal}: an on/off state is 0 or 1, not {value!r}")
        self.plant.override(device_id, signal, float(value))
        return float(value)

    async def __aenter__(self) -> Simulation:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
