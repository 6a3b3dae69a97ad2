"""The simulators' plant in virtual time, seen by each node as its drivers would show it.

:class:`SharedPlant` holds one :class:`simulators.plant.Plant` for every device of a site
(whatever transport the site gives them: in a scenario every device is simulated), on plant
time = virtual seconds since the scenario started, so the devices' series (steps, ramps,
CSV profiles) run as in ``dgi simulate``. :class:`NodePlant` is one node's part of it: the
:class:`~controller.core.readings.Readings` a round gets — built from per-device views exactly
as the runtime builds them from its drivers (:func:`controller.core.readings.readings_from`)
— and the actuator's command point, written as the node's actuator writes it. It has the
same face as the toy :class:`controller.virtual.group.Substation`, so
:class:`~controller.virtual.group.VirtualGroup` runs either.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from config.site import Device, Site
from controller.core.readings import ACTUATORS, DeviceView, Readings, readings_from
from simulators.plant import Plant, PlantDevice, SeriesModel
from simulators.series import SeriesFn
from simulators.site_plant import MODEL_BUILDERS, initial_model


class SharedPlant:
    """Every device of ``site``, one :class:`Plant` per node (a node's step costs its own
    devices, not the site's); ``start`` is the virtual time of plant time 0. The nodes share
    the bus: the frequency every Omega reads is ``nominal + droop · Σ gateway`` over the site,
    kept as a running sum that each node's step updates."""

    def __init__(self, site: Site, start: float) -> None:
        self.site = site
        self.start = start
        self.devices = {d.id: d for d in site.devices if d.type in MODEL_BUILDERS}
        self.by_node: dict[str, list[Device]] = {}
        for device in self.devices.values():
            self.by_node.setdefault(device.node_id, []).append(device)
        self.nominal = site.simulation.nominal_frequency
        self.droop = site.simulation.droop
        by_node: dict[str, list[PlantDevice]] = {}
        for d in self.devices.values():
            by_node.setdefault(d.node_id, []).append(
                PlantDevice(d.id, d.node_id, d.type, initial_model(site, d))
            )
        self.plants = {
            node: Plant(devices, nominal_frequency=self.nominal, droop=self.droop, start=0.0)
            for node, devices in by_node.items()
        }
        self.gateways = {node: plant.total_gateway() for node, plant in self.plants.items()}
        self.total_gateway = sum(self.gateways.values())

    def plant_of(self, device_id: str) -> Plant:
        return self.plants[self.devices[device_id].node_id]

    def advance_node(self, node_id: str, now: float) -> None:
        """Step one node's devices to ``now``; its Omegas read the site's frequency."""
        plant = self.plants.get(node_id)
        if plant is None:
            return
        plant.advance(max(0.0, now - self.start))
        self._gateway_changed(node_id, plant)

    def _gateway_changed(self, node_id: str, plant: Plant) -> None:
        gateway = plant.total_gateway()
        self.total_gateway += gateway - self.gateways[node_id]
        self.gateways[node_id] = gateway
        frequency = self.frequency()
        for device in plant.devices.values():
            if device.type == "Omega":
                device.model.states["frequency"] = frequency

    def advance(self, now: float) -> None:
        """Step every node's devices to ``now``."""
        for node_id in self.plants:
            self.advance_node(node_id, now)

    def node(self, node_id: str, actuation: str) -> NodePlant:
        return NodePlant(self, self.by_node.get(node_id, []), actuation)

    def set_series(self, device_id: str, series: SeriesFn, now: float) -> None:
        """A Drer's generation or a Load's drain follows ``series`` (of plant time) from now."""
        plant = self.plant_of(device_id)
        model = plant.devices[device_id].model
        if not isinstance(model, SeriesModel):
            raise ValueError(f"{device_id} is not a series device (a Drer or a Load)")
        self.advance_node(self.devices[device_id].node_id, now)
        model.overrides.pop(model.signal, None)
        model.series = series
        plant.refresh()

    def override(self, device_id: str, signal: str, value: float, now: float) -> None:
        self.advance_node(self.devices[device_id].node_id, now)
        self.plant_of(device_id).override(device_id, signal, value)

    def command(self, device_id: str, signal: str, value: float, now: float) -> None:
        """The device's node brought to ``now``, then the command applied to the device."""
        node_id = self.devices[device_id].node_id
        self.advance_node(node_id, now)
        plant = self.plants[node_id]
        plant.command(device_id, signal, value)
        self._gateway_changed(node_id, plant)

    def restart(self, device_id: str, now: float) -> None:
        """The device reboots: its model starts again from its initial values."""
        node_id = self.devices[device_id].node_id
        self.advance_node(node_id, now)
        self.plants[node_id].reset(device_id, initial_model(self.site, self.devices[device_id]))
        self._gateway_changed(node_id, self.plants[node_id])

    def frequency(self) -> float:
        """The bus frequency: nominal + droop · Σ gateway, over the site."""
        return self.nominal + self.droop * self.total_gateway


def _view(device: Device, plant: Plant, read_mark: float) -> DeviceView:
    """What the node's driver would show of ``device`` after a good read."""
    model = plant.devices[device.id].model
    profile = device.profile
    states = {p.signal: model.read(p.signal) for p in profile.points if p.is_state}
    commanded = {
        p.signal: model.commands.get(p.signal)
        for p in profile.points
        if p.is_command and p.readable
    }
    limits = {
        p.signal: (
            p.min if p.min is not None else -math.inf,
            p.max if p.max is not None else math.inf,
        )
        for p in profile.points
        if p.is_command
    }
    return DeviceView(device.id, device.type, states, commanded, limits, read_mark=read_mark)


class NodePlant:
    """One node's devices in the shared plant (the face of the toy ``Substation``)."""

    def __init__(self, shared: SharedPlant, devices: Sequence[Device], actuation: str) -> None:
        self.shared = shared
        self.devices = sorted(devices, key=lambda d: d.id)
        self.actuation = actuation
        kind, self.signal = ACTUATORS[actuation]
        actuators = [d for d in self.devices if d.type == kind]
        if not actuators:
            node = devices[0].node_id if devices else "?"
            raise ValueError(f"node {node} has no {kind} device to actuate ({actuation})")
        self.actuator = actuators[0].id
        self.fids = {d.id: True for d in self.devices if d.type == "Fid"}
        self._now = shared.start
        self.node_id = self.devices[0].node_id if self.devices else ""
        self.plant = shared.plants[self.node_id]

    def advance(self, now: float) -> None:
        self._now = max(self._now, now)
        self.shared.advance_node(self.node_id, now)

    def readings(self, read_mark: float) -> Readings:
        plant = self.plant
        return readings_from(
            [_view(d, plant, read_mark) for d in self.devices], actuation=self.actuation
        )

    @property
    def pstar(self) -> float:
        """The setpoint the actuator holds."""
        held = self.plant.commanded(self.actuator, self.signal)
        return 0.0 if held is None else held

    @pstar.setter
    def pstar(self, value: float) -> None:
        self.shared.command(self.actuator, self.signal, value, self._now)

    def _sum(self, device_type: str, signal: str) -> float:
        devices = self.plant.devices
        return sum(
            devices[d.id].model.states.get(signal, 0.0)
            for d in self.devices
            if d.type == device_type
        )

    @property
    def gateway(self) -> float:
        return self._sum("Sst", "gateway")

    @property
    def net_generation(self) -> float:
        """As the plant's substation view counts it: generation + storage − drain − EVs."""
        return (
            self._sum("Drer", "generation")
            + self._sum("Desd", "storage")
            - self._sum("Load", "drain")
            - self._sum("Evse", "power")
        )

    @property
    def storage_setpoint(self) -> float | None:
        for device in self.devices:
            if device.type == "Desd":
                return self.plant.commanded(device.id, "storage")
        return None

    def set_fid(self, fid: str, closed: bool) -> None:
        self.fids[fid] = closed
        self.shared.override(fid, "state", 1.0 if closed else 0.0, self._now)

    def restart_actuator(self) -> None:
        self.shared.restart(self.actuator, self._now)
