"""One node's devices as another simulator reports them (pure).

In co-simulation the plant is someone else's: a HELICS plant federate, a mosaik simulator.
:class:`ExternalPlant` is what a node's rounds read then — the last value reported for each
state, and for each readable command point the value the device holds, each with the plant
time it was sampled at — and where its actuator's writes go (:attr:`ExternalPlant.outbox`,
which the co-simulation adapter sends on and empties). It has the face of
:class:`controller.sim.node_plant.NodePlant`, so :class:`controller.virtual.group.VirtualGroup`
runs nodes around it unchanged.

A device's values carry their sample time as the read mark: a read-back is compared with an
acknowledged command only when it was sampled after the command was sent, so a plant that
answers a step late is not taken for a device that refused the command.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from config.site import Device
from controller.core.readings import ACTUATORS, DeviceView, Readings, readings_from


@dataclass
class _Reported:
    states: dict[str, float | None] = field(default_factory=dict)
    held: dict[str, float | None] = field(default_factory=dict)
    at: float | None = None  # the plant time of the newest report (None: nothing yet)


class ExternalPlant:
    """The devices of one node, their values set from outside (:meth:`report`)."""

    def __init__(self, devices: Sequence[Device], actuation: str) -> None:
        if not devices:
            raise ValueError("a node needs devices")
        self.devices = sorted(devices, key=lambda d: d.id)
        self.node_id = self.devices[0].node_id
        self.actuation = actuation
        kind, self.signal = ACTUATORS[actuation]
        actuators = [d for d in self.devices if d.type == kind]
        if not actuators:
            raise ValueError(f"node {self.node_id} has no {kind} device to actuate ({actuation})")
        self.actuator = actuators[0].id
        self.fids = {d.id: True for d in self.devices if d.type == "Fid"}
        self.reported = {d.id: _Reported() for d in self.devices}
        self.outbox: list[tuple[str, str, float]] = []  # (device, signal, value) to send
        self.written: float | None = None  # the last value written to the actuator
        self.now = -math.inf

    # -- what the other simulator tells -----------------------------------------------------

    def report(self, device_id: str, signal: str, value: float | None, at: float) -> None:
        """``device_id``'s state ``signal`` was ``value`` at plant time ``at``."""
        device = self._device(device_id)
        if device.profile.state_point(signal) is None:
            raise KeyError(f"{device_id} ({device.type}) has no state {signal!r}")
        self._at(device_id, at).states[signal] = value

    def report_held(self, device_id: str, signal: str, value: float | None, at: float) -> None:
        """``device_id``'s command point ``signal`` held ``value`` at plant time ``at``."""
        device = self._device(device_id)
        if device.profile.command_point(signal) is None:
            raise KeyError(f"{device_id} ({device.type}) has no command {signal!r}")
        self._at(device_id, at).held[signal] = value

    def _device(self, device_id: str) -> Device:
        for device in self.devices:
            if device.id == device_id:
                return device
        known = ", ".join(d.id for d in self.devices)
        raise KeyError(f"node {self.node_id} has no device {device_id!r}; its devices: {known}")

    def _at(self, device_id: str, at: float) -> _Reported:
        reported = self.reported[device_id]
        reported.at = at if reported.at is None else max(reported.at, at)
        return reported

    # -- the NodePlant face ------------------------------------------------------------------

    def advance(self, now: float) -> None:
        self.now = max(self.now, now)

    def readings(self, read_mark: float) -> Readings:
        views = [self._view(d, read_mark) for d in self.devices]
        return readings_from(views, actuation=self.actuation)

    def _view(self, device: Device, read_mark: float) -> DeviceView:
        reported = self.reported[device.id]
        profile = device.profile
        states = {p.signal: reported.states.get(p.signal) for p in profile.points if p.is_state}
        commanded = {
            p.signal: reported.held.get(p.signal)
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
        fresh = reported.at is not None and all(v is not None for v in states.values())
        mark = read_mark if reported.at is None else min(read_mark, reported.at)
        return DeviceView(device.id, device.type, states, commanded, limits, fresh, mark)

    @property
    def pstar(self) -> float:
        """The setpoint the actuator holds as last reported (else as last written)."""
        held = self.reported[self.actuator].held.get(self.signal)
        if held is not None:
            return held
        return 0.0 if self.written is None else self.written

    @pstar.setter
    def pstar(self, value: float) -> None:
        self.written = value
        self.outbox.append((self.actuator, self.signal, value))

    def take_outbox(self) -> list[tuple[str, str, float]]:
        """The writes since the last call (the adapter sends them)."""
        out, self.outbox = self.outbox, []
        return out

    def _sum(self, device_type: str, signal: str) -> float:
        return sum(
            self.reported[d.id].states.get(signal) or 0.0
            for d in self.devices
            if d.type == device_type
        )

    @property
    def gateway(self) -> float:
        return self._sum("Sst", "gateway")

    @property
    def net_generation(self) -> float:
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
                return self.reported[device.id].held.get("storage")
        return None

    def set_fid(self, fid: str, closed: bool) -> None:
        raise NotImplementedError(f"{fid} is the plant simulator's: switch it there")

    def restart_actuator(self) -> None:
        raise NotImplementedError(f"{self.actuator} is the plant simulator's: restart it there")
