"""The simulated plant: substations on one shared bus. Pure — time is passed in.

Per substation (one controller node):

* ``Sst`` — the gateway follows its PStar command with a first-order lag (``lag_s``, 0 =
  instant), PStar clamped to the SST rating (the command point's min..max); a *following*
  SST (no local grid) follows its substation's net power instead, whatever PStar says;
* ``Desd`` — storage follows its setpoint within the power limits and the state-of-charge
  window, and the SoC integrates ``-storage`` (storage > 0 discharges); a battery with a
  ``plan`` follows it (a day-ahead dispatch) until a setpoint is written;
* ``Drer`` generation and ``Load`` drain follow their series unless a lab overrides them;
* ``Evse`` draws ``min(demand, power_limit)`` while a car is connected; an OCPP charging
  station (:class:`ChargePointModel`) draws per connector with a transaction, within its
  transaction's limit, all together within the station limit;
* ``Logger`` holds dgiEnable (settable) and the last groupStatus; ``Fid`` its switch state.

The substation's net generation is ``generation + storage - drain - EV power`` and its grid
import ``gateway - net generation``. The bus slack absorbs ``-Σ gateway``, and ``Omega``
reports ``nominal + droop · Σ gateway`` (rad/s): more power pushed into the bus than taken
out raises the frequency.

With a grid solver (the pandapower plant, :mod:`simulators.grid`) the substations also sit
on a feeder: every ``tick_s`` of plant time, after the models advance, the plant hands the
solver its substation views and writes each node's results (voltage, loading,
trafo_loading, grid_import) into that node's ``Meter`` models. A power flow that does not
converge (:class:`GridFault`) is a plant fault: the meters are cleared (they read as
failed), ``grid_faults`` counts it, and the next tick tries again.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from simulators.series import SeriesFn


def _constant(value: float) -> SeriesFn:
    return lambda _t: value


@dataclass
class DeviceModel:
    """Base model: signal values by name; ``commands`` holds the last commanded values."""

    states: dict[str, float] = field(default_factory=dict)
    commands: dict[str, float] = field(default_factory=dict)
    overrides: dict[str, float] = field(default_factory=dict)

    def advance(self, t: float, dt: float) -> None:
        """Move the model from ``t - dt`` to ``t``."""

    def command(self, signal: str, value: float) -> None:
        self.commands[signal] = value

    def override(self, signal: str, value: float) -> None:
        """A lab sets a state directly (e.g. dgiEnable, or a load step)."""
        self.overrides[signal] = value
        self.states[signal] = value

    def read(self, signal: str) -> float | None:
        return self.states.get(signal)


@dataclass
class SstModel(DeviceModel):
    lag_s: float = 0.0
    rating: tuple[float, float] = (-math.inf, math.inf)
    follow: bool = False
    net_power: float = 0.0  # set by the plant for a following SST

    def command(self, signal: str, value: float) -> None:
        low, high = self.rating
        super().command(signal, min(high, max(low, value)))

    def advance(self, t: float, dt: float) -> None:
        target = self.net_power if self.follow else self.commands["gateway"]
        if self.lag_s <= 0:
            self.states["gateway"] = target
        else:
            current = self.states["gateway"]
            self.states["gateway"] = current + (target - current) * (1 - math.exp(-dt / self.lag_s))


@dataclass
class DesdModel(DeviceModel):
    capacity_kwh: float = 100.0
    limits: tuple[float, float] = (-math.inf, math.inf)
    plan: SeriesFn | None = None  # its own dispatch over time, until a setpoint is written

    def command(self, signal: str, value: float) -> None:
        self.plan = None
        super().command(signal, value)

    def advance(self, t: float, dt: float) -> None:
        if self.plan is not None:
            self.commands["storage"] = self.plan(t)
        soc = self.states["soc"]
        low, high = self.limits
        power = min(high, max(low, self.commands["storage"]))
        if (power > 0 and soc <= self.states["soc_min"]) or (
            power < 0 and soc >= self.states["soc_max"]
        ):
            power = 0.0
        soc -= power * dt / 3600.0 / self.capacity_kwh * 100.0
        self.states["soc"] = (
            min(self.states["soc_max"], max(self.states["soc_min"], soc)) if power else soc
        )
        self.states["storage"] = power


@dataclass
class SeriesModel(DeviceModel):
    """Drer generation or Load drain: a series of time, unless overridden."""

    signal: str = "generation"
    series: SeriesFn = field(default=_constant(0.0))

    def advance(self, t: float, dt: float) -> None:
        self.states[self.signal] = self.overrides.get(self.signal, self.series(t))


@dataclass
class EvseModel(DeviceModel):
    demand: SeriesFn = field(default=_constant(0.0))

    def advance(self, t: float, dt: float) -> None:
        connected = self.states.get("connected", 0.0) != 0.0
        limit = self.commands.get("power_limit", 0.0)
        self.states["power"] = min(self.demand(t), limit) if connected else 0.0


@dataclass
class ChargePointModel(DeviceModel):
    """An OCPP charging station of ``connectors`` outlets (its charge point simulator sets the
    transactions and limits). A connector with a running transaction draws ``min(demand,
    its TxProfile limit)``; together they draw at most the station limit (the
    ChargePointMaxProfile, ``commands["power_limit"]``), which scales them down alike. Each
    connector's energy register integrates its draw. ``connected`` = a car at every connector.
    """

    demand: SeriesFn = field(default=_constant(0.0))
    connectors: int = 1
    charging: set[int] = field(default_factory=set)  # connectors whose transaction runs
    tx_limits: dict[int, float] = field(default_factory=dict)  # connector -> kW
    draw: dict[int, float] = field(default_factory=dict)  # connector -> kW, now
    energy_wh: dict[int, float] = field(default_factory=dict)  # connector -> its register

    def advance(self, t: float, dt: float) -> None:
        for connector, kw in self.draw.items():  # the draw since the last step
            self.energy_wh[connector] = self.energy_wh.get(connector, 0.0) + kw * dt / 3.6
        demand = max(0.0, self.demand(t))
        wanted = {c: min(demand, self.tx_limits.get(c, math.inf)) for c in sorted(self.charging)}
        total = sum(wanted.values())
        cap = max(0.0, self.commands.get("power_limit", math.inf))
        scale = cap / total if total > cap else 1.0
        self.draw = {c: w * scale for c, w in wanted.items()}
        self.states["power"] = sum(self.draw.values())

    @property
    def car_connected(self) -> bool:
        return self.states.get("connected", 0.0) != 0.0


@dataclass
class OmegaModel(DeviceModel):
    """Reads the bus frequency, which the plant computes."""


@dataclass
class MeterModel(DeviceModel):
    """A grid meter: voltage, loading and import at its substation's bus, which the grid
    plant's power flow sets; empty (nothing to read) without one, or after a power flow that
    did not converge."""


@dataclass(frozen=True)
class PlantDevice:
    """A device of the plant: its node (substation), type and model."""

    device_id: str
    node_id: str
    type: str
    model: DeviceModel


@dataclass(frozen=True)
class SubstationView:
    node_id: str
    gateway: float
    generation: float
    storage: float
    drain: float
    ev_power: float

    @property
    def net_generation(self) -> float:
        return self.generation + self.storage - self.drain - self.ev_power

    @property
    def grid_import(self) -> float:
        return self.gateway - self.net_generation


class GridFault(Exception):
    """The grid's power flow did not converge (its message says why)."""


class GridSolver(Protocol):
    """A feeder behind the substations (:class:`simulators.grid.Grid`)."""

    def solve(self, substations: dict[str, SubstationView]) -> dict[str, dict[str, float]]:
        """Each node's meter values (voltage, loading, ...); raises :class:`GridFault`."""
        ...


# Which state each device type contributes to a substation's totals.
_TOTALS: dict[str, tuple[str, str]] = {
    "Sst": ("gateway", "gateway"),
    "Drer": ("generation", "generation"),
    "Desd": ("storage", "storage"),
    "Load": ("drain", "drain"),
    "Evse": ("power", "ev_power"),
}


class Plant:
    """All devices of a site on one bus. Call :meth:`advance` with the current time (s)."""

    def __init__(
        self,
        devices: list[PlantDevice],
        *,
        nominal_frequency: float,
        droop: float,
        start: float = 0.0,
        resolution_s: float = 0.001,
        on_change: Callable[[str, str, float], None] | None = None,
        grid: GridSolver | None = None,
        tick_s: float = 1.0,
    ) -> None:
        self.devices = {d.device_id: d for d in devices}
        self.nominal_frequency = nominal_frequency
        self.droop = droop
        self.time = start
        self.resolution_s = resolution_s
        self.on_change = on_change
        self._settled = False
        self.grid = grid
        self.tick_s = tick_s
        self.grid_faults = 0  # power flows that did not converge
        self.grid_fault: str | None = None  # why the last one failed; None: it converged
        self._grid_due: float | None = None  # the plant time of the next power flow
        self.advance(start)

    def advance(self, now: float) -> None:
        """Integrate every model from the last time to ``now`` (never backwards).

        Several reads within ``resolution_s`` see the same state: a Modbus poll of a
        substation issues a request per device, and re-integrating for each is wasted work.
        """
        if self._settled and now - self.time < self.resolution_s:
            return
        self._settled = True
        dt = max(0.0, now - self.time)
        self.time = max(self.time, now)
        ssts = [d for d in self.devices.values() if isinstance(d.model, SstModel)]
        for device in self.devices.values():
            if not isinstance(device.model, SstModel):
                device.model.advance(self.time, dt)
        following = any(isinstance(d.model, SstModel) and d.model.follow for d in ssts)
        views = self.substations() if following else {}  # only a following SST needs them
        for device in ssts:
            assert isinstance(device.model, SstModel)
            if device.model.follow:
                device.model.net_power = views[device.node_id].net_generation
            device.model.advance(self.time, dt)
        frequency = self.frequency()
        for device in self.devices.values():
            if device.type == "Omega":
                device.model.states["frequency"] = frequency
        if self.grid is not None and (self._grid_due is None or self.time >= self._grid_due):
            self._grid_due = self.time + self.tick_s
            self.solve_grid()

    def solve_grid(self) -> None:
        """Run the grid's power flow now and write its results into the meters."""
        assert self.grid is not None
        meters = [d for d in self.devices.values() if isinstance(d.model, MeterModel)]
        try:
            results = self.grid.solve(self.substations())
        except GridFault as fault:
            self.grid_faults += 1
            self.grid_fault = str(fault)
            for device in meters:
                device.model.states.clear()
            return
        self.grid_fault = None
        for device in meters:
            device.model.states.clear()
            device.model.states.update(results.get(device.node_id, {}))

    def read(self, device_id: str, signal: str) -> float | None:
        return self.devices[device_id].model.read(signal)

    def commanded(self, device_id: str, signal: str) -> float | None:
        return self.devices[device_id].model.commands.get(signal)

    def command(self, device_id: str, signal: str, value: float) -> None:
        self.devices[device_id].model.command(signal, value)
        self._changed(device_id, signal, value)

    def override(self, device_id: str, signal: str, value: float) -> None:
        self.devices[device_id].model.override(signal, value)
        self._changed(device_id, signal, value)

    def refresh(self) -> None:
        """Apply at once what was changed in a model directly (an OCPP charge point's
        transactions and limits), even within the resolution."""
        self._settled = False
        self.advance(self.time)

    def reset(self, device_id: str, model: DeviceModel) -> None:
        """Give a device a new model: it restarts with its initial values."""
        old = self.devices[device_id]
        self.devices[device_id] = PlantDevice(old.device_id, old.node_id, old.type, model)
        self._settled = False
        if isinstance(model, MeterModel):
            self._grid_due = None  # a restarted meter reads the grid at once
        self.advance(self.time)

    def _changed(self, device_id: str, signal: str, value: float) -> None:
        self._settled = False  # apply the change now, even within the resolution
        self.advance(self.time)
        if self.on_change is not None:
            self.on_change(device_id, signal, value)

    def total_gateway(self) -> float:
        return sum(d.model.states["gateway"] for d in self.devices.values() if d.type == "Sst")

    def frequency(self) -> float:
        return self.nominal_frequency + self.droop * self.total_gateway()

    def substations(self) -> dict[str, SubstationView]:
        totals: dict[str, dict[str, float]] = {}
        for device in self.devices.values():
            sums = totals.setdefault(device.node_id, {})
            if device.type in _TOTALS:
                signal, key = _TOTALS[device.type]
                sums[key] = sums.get(key, 0.0) + device.model.states.get(signal, 0.0)
        return {
            node: SubstationView(
                node_id=node,
                gateway=s.get("gateway", 0.0),
                generation=s.get("generation", 0.0),
                storage=s.get("storage", 0.0),
                drain=s.get("drain", 0.0),
                ev_power=s.get("ev_power", 0.0),
            )
            for node, s in totals.items()
        }
