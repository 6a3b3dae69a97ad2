"""``dgi cosim-plant``: a site's plant as one HELICS federate.

The plant (:func:`make_plant`: the one place where its kind is chosen) holds every device
of the site that ``dgi simulate`` would serve. It publishes, in initialization and then at
every grant, each node's devices on ``dgi/plant/<node>`` (their states and the values their
readable command points hold, packed, with the plant time) and applies, at each grant, the
writes the nodes published on ``dgi/setpoints/<node>`` during the step before — in order,
each checked: a write to a device the node does not have, or to a signal that is not one of
the device's command points, is dropped and counted.

``record``: a JSON file of every write applied (time, node, device, signal, value), each
node's gateway, net generation and actuator setpoint at the start and at the end, and every
device's final values.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from config.site import Device, Site
from controller.core.readings import ACTUATORS
from controller.cosim.helics_federate import StepClock, h, join, leave, step_times
from controller.cosim.helics_node import FederateSettings
from controller.cosim.helics_plan import (
    StatesReport,
    Values,
    pack_states,
    setpoints_topic,
    states_topic,
    unpack_setpoints,
)
from simulators.plant import Plant
from simulators.site_plant import PlantError, build_plant

log = logging.getLogger(__name__)

PLANTS = ("simple", "pandapower")


def make_plant(site: Site, kind: str) -> Plant:
    """The site's plant of ``kind`` (``--plant``)."""
    if kind not in PLANTS:
        raise ValueError(f"--plant {kind!r}: one of {', '.join(PLANTS)}")
    try:  # pandapower: the substations on the [grid] feeder (simulators/grid.py)
        return build_plant(site, plant="pandapower" if kind == "pandapower" else "simple")
    except PlantError as exc:
        raise ValueError(f"--plant {kind}: {exc}") from exc


class PlantFederate:
    def __init__(self, site: Site, plant: Plant, settings: FederateSettings) -> None:
        self.site = site
        self.plant = plant
        self.settings = settings
        self.devices: dict[str, list[Device]] = {}
        for device in site.devices:
            if device.id in plant.devices:
                self.devices.setdefault(device.node_id, []).append(device)
        self.by_id = {d.id: d for ds in self.devices.values() for d in ds}
        self._signals: dict[str, list[tuple[str, tuple[str, ...], tuple[str, ...]]]] = {}
        self.applied: list[dict[str, object]] = []
        self.dropped = 0
        fed = self.fed = join(
            settings.name, settings.broker, settings.core, settings.step_s, settings.timeout_s
        )
        self.pubs: dict[str, Any] = {}
        self.subs: dict[str, Any] = {}
        for node in self.devices:
            self.pubs[node] = fed.register_global_publication(
                states_topic(node), h.HELICS_DATA_TYPE_STRING
            )
            self.subs[node] = fed.register_subscription(setpoints_topic(node))
        self.initial = self.balance()

    def report(self, node: str, at: float) -> StatesReport:
        states: Values = {}
        held: Values = {}
        devices = self.plant.devices
        for device_id, state_signals, held_signals in self._points(node):
            model = devices[device_id].model  # looked up each time: a restart replaces it
            states[device_id] = {signal: model.read(signal) for signal in state_signals}
            if held_signals:
                commands = model.commands
                held[device_id] = {signal: commands.get(signal) for signal in held_signals}
        return StatesReport(at, states, held)

    def _points(self, node: str) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
        """Per device of ``node``: its state signals and its readable command signals."""
        points = self._signals.get(node)
        if points is None:
            points = self._signals[node] = [
                (
                    device.id,
                    tuple(p.signal for p in device.profile.points if p.is_state),
                    tuple(p.signal for p in device.profile.points if p.is_command and p.readable),
                )
                for device in self.devices[node]
            ]
        return points

    def _publish(self, at: float) -> None:
        self.plant.advance(at)
        for node, pub in self.pubs.items():
            pub.publish(pack_states(self.report(node, at)))

    def _apply(self, at: float) -> None:
        for node, sub in self.subs.items():
            if not sub.is_updated():
                continue
            try:
                writes = unpack_setpoints(sub.string)
            except ValueError as exc:
                self.dropped += 1
                log.warning("plant: bad setpoints from %s at %g: %s", node, at, exc)
                continue
            for device_id, signal, value in writes:
                device = self.by_id.get(device_id)
                if (
                    device is None
                    or device.node_id != node
                    or device.profile.command_point(signal) is None
                ):
                    self.dropped += 1
                    log.warning("plant: %s may not write %s.%s", node, device_id, signal)
                    continue
                self.plant.command(device_id, signal, value)
                self.applied.append(
                    {"time": round(at, 9), "node": node, "device": device_id, "signal": signal,
                     "value": value}
                )  # fmt: skip

    def run(self) -> dict[str, object]:
        clock = StepClock()
        try:
            self.fed.enter_initializing_mode()
            self._publish(0.0)
            self.fed.enter_executing_mode()
            for wanted in step_times(self.settings.step_s, self.settings.until_s):
                now = float(self.fed.request_time(wanted))
                clock.tick()
                self.plant.advance(now)
                self._apply(now)
                self._publish(now)
        finally:
            leave(self.fed)
        summary: dict[str, object] = {
            "federate": self.settings.name,
            "nodes": len(self.devices),
            "setpoints_applied": len(self.applied),
            "dropped": self.dropped,
            **clock.summary(),
        }
        if self.settings.record is not None:
            self._write_record(self.settings.record, summary)
        return summary

    def balance(self) -> dict[str, dict[str, float | None]]:
        """Per node: gateway, net generation and what its actuator holds, now."""
        kind, signal = ACTUATORS[self.site.algorithm.actuation]
        views = self.plant.substations()
        out: dict[str, dict[str, float | None]] = {}
        for node, devices in self.devices.items():
            view = views.get(node)
            actuator = next((d.id for d in devices if d.type == kind), None)
            out[node] = {
                "gateway": view.gateway if view else None,
                "net_generation": view.net_generation if view else None,
                "setpoint": None if actuator is None else self.plant.commanded(actuator, signal),
            }
        return out

    def _write_record(self, path: Path, summary: dict[str, object]) -> None:
        final = {node: self.report(node, self.plant.time) for node in self.devices}
        record = {
            "summary": summary,
            "setpoints": self.applied,
            "initial": self.initial,
            "final": self.balance(),
            "devices": {
                device: {"states": report.states[device], "held": report.held.get(device, {})}
                for report in final.values()
                for device in report.states
            },
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=1))
