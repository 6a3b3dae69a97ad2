"""What one round knows about its node's devices, computed from device values (pure).

``G`` is the sum of Sst gateways. ``NG`` is generation + storage - drain (EV chargers draw like
loads). Under storage actuation the storage is the actuator, as the gateway is under SST
actuation, so it is left out of ``NG``; the node then commands
``storage = PStar - generation + drain``.

``setpoint`` is the value the actuator's command point holds (read back every round), with
``setpoint_read_mark``, when that read was sent: the ledger compares it with the acknowledged
command only when the read is younger than the acknowledgement. Marks come from a clock that
never goes back (monotonic), not the wall clock.

``fids`` holds the state of each ``Fid`` read fresh this round (True: closed; any nonzero
state, as FREEDM); a Fid that did not answer is left out, its state unknown. Group management
reports them and, with a physical topology, groups only nodes joined through closed Fids.

``grid`` is what the node's grid meter (its first ``Meter``, by id) says about the bus: voltage,
line and transformer loading, import from the feeder. It is shown, never used to draft: a
Meter is not a needed type, so a failed meter leaves the readings fresh and only empties
``grid`` (its values are unknown while the meter is stale, not the last ones it gave).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: Device types whose loss stops the node from drafting (a Fid does not matter to LB).
NEEDED_TYPES = frozenset({"Sst", "Desd", "Drer", "Load", "Evse", "Logger", "Omega"})
#: The actuator for each ``[algorithm] actuation``: its device type and command signal (the
#: first such device of a node, by id).
ACTUATORS = {"sst": ("Sst", "gateway"), "desd": ("Desd", "storage")}


@dataclass(frozen=True)
class DeviceView:
    """One device as a round sees it: state values, read-back commands, command limits."""

    id: str
    type: str
    states: Mapping[str, float | None]
    commanded: Mapping[str, float | None]
    limits: Mapping[str, tuple[float, float]]
    fresh: bool = True
    read_mark: float | None = None  # when the read that gave these values was sent (monotonic)
    resolutions: Mapping[str, float] | None = None  # command signal -> smallest step it holds


@dataclass(frozen=True)
class GridReading:
    """The node's grid meter as a round sees it; a value is None when the meter is stale or
    gave none (a power flow that did not converge)."""

    meter: str  # its device id
    fresh: bool
    voltage: float | None = None  # pu
    loading: float | None = None  # % of the highest loaded line at the bus
    trafo_loading: float | None = None  # %
    grid_import: float | None = None  # kW, + = import from the feeder


@dataclass(frozen=True)
class Readings:
    gateway: float = 0.0
    generation: float = 0.0
    storage: float = 0.0
    drain: float = 0.0  # loads and EV chargers
    charging: float = 0.0  # EV chargers (part of drain)
    counts: Mapping[str, int] | None = None
    pstar: float | None = None  # the gateway the actuator's held setpoint gives (read back)
    pstar_min: float = -math.inf
    pstar_max: float = math.inf
    setpoint: float | None = None  # the actuator's command point as read back
    setpoint_readable: bool = False  # it can be read back (None above is then "no value")
    setpoint_read_mark: float | None = None
    setpoint_resolution: float = 0.0
    gateway_read_mark: float | None = None  # the earliest read of the Sst gateways
    dgi_enable: bool | None = None  # None: no Logger device
    frequency: float | None = None  # None: no Omega device
    fresh: bool = True
    storage_actuated: bool = False
    stale: tuple[str, ...] = ()
    recovering: bool = False  # every device answers, but not yet for long enough to trust
    fids: tuple[tuple[str, bool], ...] = ()  # (Fid device id, closed), for group management
    grid: GridReading | None = None  # None: the node has no Meter

    @property
    def net_generation(self) -> float:
        storage = 0.0 if self.storage_actuated else self.storage
        return self.generation + storage - self.drain

    def count(self, device_type: str) -> int:
        return (self.counts or {}).get(device_type, 0)


def _sum(views: Sequence[DeviceView], device_type: str, signal: str) -> float:
    return sum(v.states.get(signal) or 0.0 for v in views if v.type == device_type)


def _first(views: Sequence[DeviceView], device_type: str) -> DeviceView | None:
    return min((v for v in views if v.type == device_type), key=lambda v: v.id, default=None)


def readings_from(views: Sequence[DeviceView], *, actuation: str = "sst") -> Readings:
    """Combine a node's device views into the figures a round uses."""
    generation = _sum(views, "Drer", "generation")
    drain = _sum(views, "Load", "drain") + _sum(views, "Evse", "power")
    counts: dict[str, int] = {}
    for view in views:
        counts[view.type] = counts.get(view.type, 0) + 1
    kind, signal = ACTUATORS[actuation]
    actuator = _first(views, kind)
    pstar, low, high = _actuator(actuator, actuation, generation, drain)
    logger, omega = _first(views, "Logger"), _first(views, "Omega")
    enable = logger.states.get("dgiEnable") if logger else None
    stale = tuple(sorted(v.id for v in views if not v.fresh and v.type in NEEDED_TYPES))
    gateways = [v.read_mark for v in views if v.type == "Sst" and v.read_mark is not None]
    return Readings(
        gateway=_sum(views, "Sst", "gateway"),
        generation=generation,
        storage=_sum(views, "Desd", "storage"),
        drain=drain,
        charging=_sum(views, "Evse", "power"),
        counts=counts,
        pstar=pstar,
        pstar_min=low,
        pstar_max=high,
        setpoint=actuator.commanded.get(signal) if actuator else None,
        setpoint_readable=actuator is not None and signal in actuator.commanded,
        setpoint_read_mark=actuator.read_mark if actuator else None,
        setpoint_resolution=(actuator.resolutions or {}).get(signal, 0.0) if actuator else 0.0,
        gateway_read_mark=min(gateways) if gateways else None,
        dgi_enable=None if logger is None else enable == 1.0,
        frequency=omega.states.get("frequency") if omega else None,
        fresh=not stale,
        storage_actuated=actuation == "desd",
        stale=stale,
        fids=_fids(views),
        grid=_grid(_first(views, "Meter")),
    )


def _grid(meter: DeviceView | None) -> GridReading | None:
    """The meter's values, none of them while it is stale."""
    if meter is None:
        return None
    if not meter.fresh:
        return GridReading(meter.id, fresh=False)
    values = {
        k: meter.states.get(k) for k in ("voltage", "loading", "trafo_loading", "grid_import")
    }
    return GridReading(meter.id, fresh=True, **values)


def _fids(views: Sequence[DeviceView]) -> tuple[tuple[str, bool], ...]:
    """Each Fid read fresh: (its id, closed)."""
    found = [(v.id, v.states.get("state")) for v in views if v.type == "Fid" and v.fresh]
    return tuple(sorted((fid, state != 0.0) for fid, state in found if state is not None))


def _actuator(
    actuator: DeviceView | None, actuation: str, generation: float, drain: float
) -> tuple[float | None, float, float]:
    """The commanded gateway and its allowed range, for the chosen actuator."""
    if actuator is None:
        return None, -math.inf, math.inf
    signal = ACTUATORS[actuation][1]
    low, high = actuator.limits.get(signal, (-math.inf, math.inf))
    setpoint = actuator.commanded.get(signal)
    if actuation != "desd":
        return setpoint, low, high
    soc, soc_min, soc_max = (actuator.states.get(k) for k in ("soc", "soc_min", "soc_max"))
    if soc is not None and soc_min is not None and soc <= soc_min:
        high = min(high, 0.0)  # empty: no more discharging
    if soc is not None and soc_max is not None and soc >= soc_max:
        low = max(low, 0.0)  # full: no more charging
    offset = generation - drain
    pstar = None if setpoint is None else setpoint + offset
    return pstar, low + offset, high + offset


def storage_command(pstar: float, readings: Readings) -> float:
    """The Desd setpoint that makes the node export ``pstar`` (storage actuation)."""
    return pstar - readings.generation + readings.drain


def setpoint_for(pstar: float, readings: Readings) -> float:
    """What the actuator's command point must hold for the node to export ``pstar``."""
    return storage_command(pstar, readings) if readings.storage_actuated else pstar
