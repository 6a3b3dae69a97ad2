"""The plant side of a mosaik co-simulation (pure: the plant is handed in).

:class:`PlantSide` steps a :class:`simulators.plant.Plant` on mosaik's inputs: the plant is
advanced to the step's time, then the writes (``c_set``) and the profile overrides
(``generation``, ``drain``) of the step are applied, so its outputs — every state, every
command point's held value, and per node the plant's own sums — show them at once. It keeps
what it was sent (:attr:`PlantSide.received`) and, when asked, the series devices' values
at every step (:attr:`PlantSide.trace`), so a run can be judged from the plant itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from config.site import Device
from controller.cosim.mosaik_model import OVERRIDABLE, Inputs, number, port, single
from simulators.plant import Plant


class PlantSide:
    """``plant`` holding ``devices`` (eid = device id), stepped by mosaik."""

    def __init__(self, plant: Plant, devices: Sequence[Device], *, trace: bool = False) -> None:
        self.plant = plant
        self.devices = {d.id: d for d in devices if d.id in plant.devices}
        self.nodes = sorted({d.node_id for d in self.devices.values()})
        self.now = plant.time
        self.received: list[tuple[float, str, str, float]] = []  # (t, device, signal, value)
        self.trace: list[tuple[float, dict[str, float | None]]] | None = [] if trace else None
        self.initial = {eid: dict(d.model.commands) for eid, d in plant.devices.items()}

    def step(self, t: float, inputs: Inputs) -> None:
        self.now = t
        self.plant.advance(t)
        for eid, attrs in inputs.items():
            device = self.device(eid)
            for attr, sources in attrs.items():
                value = number(eid, attr, single(eid, attr, sources))
                if value is None:
                    continue
                meant = port(device.type, attr)
                if meant.role == "set":
                    self.plant.command(eid, meant.signal, value)
                    self.received.append((t, eid, meant.signal, value))
                elif meant.role == "state" and meant.signal in OVERRIDABLE.get(device.type, ()):
                    self.plant.override(eid, meant.signal, value)
                else:
                    raise ValueError(f"{eid}.{attr} is the plant's output, not an input")
        if self.trace is not None:
            self.trace.append((t, self._series()))

    def _series(self) -> dict[str, float | None]:
        return {
            eid: self.plant.read(eid, signal)
            for eid, device in self.devices.items()
            for signal in OVERRIDABLE.get(device.type, ())
        }

    def device(self, eid: str) -> Device:
        device = self.devices.get(eid)
        if device is None:
            raise KeyError(f"the plant has no device {eid!r}; its devices: "
                           f"{', '.join(sorted(self.devices))}")  # fmt: skip
        return device

    def output(self, eid: str, attr: str) -> object:
        if eid.startswith("substation-"):
            view = self.plant.substations()[eid.removeprefix("substation-")]
            return {
                "gateway": view.gateway,
                "net_generation": view.net_generation,
                "grid_import": view.grid_import,
            }[attr]
        meant = port(self.device(eid).type, attr)
        if meant.role == "held":
            return self.plant.commanded(eid, meant.signal)
        return self.plant.read(eid, meant.signal)

    def outputs(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, object]]:
        return {eid: {a: self.output(eid, a) for a in attrs} for eid, attrs in wanted.items()}

    def imbalance(self) -> dict[str, float]:
        """Per node, the plant's gateway minus its net generation (its grid import)."""
        return {n: v.grid_import for n, v in self.plant.substations().items()}

    def setpoint_sum_change(self, actuators: Mapping[str, str]) -> float:
        """Σ (held - initial) over ``actuators`` (device -> command signal), as the plant
        holds them."""
        return sum(
            (self.plant.commanded(eid, signal) or 0.0) - self.initial[eid].get(signal, 0.0)
            for eid, signal in actuators.items()
        )

    def summary(self) -> dict[str, object]:
        """What a run ends with, JSON-ready (mosaik sends it over its wire)."""
        actuators = {eid: signal for _, eid, signal, _ in self.received}
        return {
            "time": self.now,
            "imbalance": self.imbalance(),
            "setpoint_sum_change": self.setpoint_sum_change(actuators),
            "received": [list(r) for r in self.received],
            "power_flow": self.plant.grid is not None,
            "grid_faults": self.plant.grid_faults,
            "trace": None if self.trace is None else [[t, v] for t, v in self.trace],
        }
