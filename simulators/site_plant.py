"""Build the plant of a site from its simulated devices (reads CSV series; not pure)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from config.settings import PlantKind
from config.simulation import (
    DesdSim,
    DeviceSim,
    DrerSim,
    EvseSim,
    FidSim,
    LoadSim,
    LoggerSim,
    Series,
    SstSim,
)
from config.site import OCPP, Device, Site
from simulators.plant import (
    ChargePointModel,
    DesdModel,
    DeviceModel,
    EvseModel,
    MeterModel,
    OmegaModel,
    Plant,
    PlantDevice,
    SeriesModel,
    SstModel,
)
from simulators.series import SeriesFn, build_series, read_csv_rows


def _limits(device: Device, signal: str) -> tuple[float, float]:
    point = device.profile.command_point(signal)
    low = point.min if point is not None and point.min is not None else -math.inf
    high = point.max if point is not None and point.max is not None else math.inf
    return low, high


SimT = TypeVar("SimT", bound=DeviceSim)


def _sim(device: Device, schema: type[SimT]) -> SimT:
    """The device's sim table (defaults when the site gave none)."""
    return device.sim if isinstance(device.sim, schema) else schema()


@dataclass(frozen=True)
class Sources:
    """Where a site's series files are, and the profile clock (``[simulation]``)."""

    base: Path
    time_scale: float = 1.0  # profile seconds per second of simulation
    start_s: float = 0.0  # the profile time the simulation starts at

    def series(self, series: Series) -> SeriesFn:
        rows: list[tuple[float, float]] = []
        if series.csv is not None:
            path = Path(series.csv) if Path(series.csv).is_absolute() else self.base / series.csv
            rows = read_csv_rows(path, series.time_column, series.column)
        at = build_series(series, rows)
        if self.time_scale == 1.0 and self.start_s == 0.0:
            return at
        scale, start = self.time_scale, self.start_s
        return lambda t: at(start + scale * t)


def _sst(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, SstSim)
    return SstModel(
        states={"gateway": sim.initial_kw},
        commands={"gateway": sim.initial_kw},
        lag_s=sim.lag_s,
        rating=_limits(device, "gateway"),
        follow=sim.follow,
    )


def _desd(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, DesdSim)
    return DesdModel(
        states={"storage": 0.0, "soc": sim.soc, "soc_min": sim.soc_min, "soc_max": sim.soc_max},
        commands={"storage": sim.initial_kw},
        capacity_kwh=sim.capacity_kwh,
        limits=_limits(device, "storage"),
        plan=None if sim.plan is None else sources.series(sim.plan),
    )


def _drer(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, DrerSim)
    return SeriesModel(signal="generation", series=sources.series(sim.generation))


def _load(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, LoadSim)
    return SeriesModel(signal="drain", series=sources.series(sim.drain))


def _evse(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, EvseSim)
    if device.entry.transport == OCPP:
        return ChargePointModel(
            states={"connected": 1.0 if sim.connected else 0.0, "power": 0.0},
            commands={"power_limit": sim.initial_limit_kw},
            demand=sources.series(sim.demand_kw),
            connectors=sim.connectors,
        )
    return EvseModel(
        states={"connected": 1.0 if sim.connected else 0.0, "power": 0.0},
        commands={"power_limit": sim.initial_limit_kw},
        demand=sources.series(sim.demand_kw),
    )


def _logger(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, LoggerSim)
    return DeviceModel(
        states={"dgiEnable": 1.0 if sim.dgi_enable else 0.0}, commands={"groupStatus": 0.0}
    )


def _omega(device: Device, sources: Sources) -> DeviceModel:
    return OmegaModel(states={"frequency": 0.0})


def _meter(device: Device, sources: Sources) -> DeviceModel:
    return MeterModel()


def _fid(device: Device, sources: Sources) -> DeviceModel:
    sim = _sim(device, FidSim)
    return DeviceModel(states={"state": 1.0 if sim.closed else 0.0})


MODEL_BUILDERS: dict[str, Callable[[Device, Sources], DeviceModel]] = {
    "Sst": _sst,
    "Desd": _desd,
    "Drer": _drer,
    "Load": _load,
    "Evse": _evse,
    "Logger": _logger,
    "Omega": _omega,
    "Fid": _fid,
    "Meter": _meter,
}


def initial_model(site: Site, device: Device) -> DeviceModel:
    """A simulated device's model as it starts (and restarts)."""
    clock = site.simulation
    sources = Sources(Path(site.path).parent, clock.time_scale, clock.profile_start_s)
    return MODEL_BUILDERS[device.type](device, sources)


class PlantError(RuntimeError):
    """The site's plant cannot be built as asked (meters without a grid, no pandapower)."""


def build_plant(site: Site, *, start: float = 0.0, plant: PlantKind | None = None) -> Plant:
    """The plant of every ``simulated`` device and simulated charge point of ``site``:
    ``plant`` (default ``[simulation] plant``) "simple", or "pandapower" — the substations
    on the ``[grid]`` feeder (:mod:`simulators.grid`, imported only then)."""
    kind = plant or site.simulation.plant
    devices = [
        PlantDevice(d.id, d.node_id, d.type, initial_model(site, d))
        for d in site.devices
        if d.in_plant
    ]
    grid = None
    if kind == "pandapower":
        try:
            from simulators.grid import build_grid

            grid = build_grid(site.grid, [n.id for n in site.nodes], Path(site.path).parent)
        except RuntimeError as exc:
            raise PlantError(str(exc)) from exc
    else:
        meters = [d.device_id for d in devices if d.type == "Meter"]
        if meters:
            raise PlantError(
                f"{', '.join(meters)}: a Meter reads the grid's power flow, which the simple "
                "plant has not: run with --plant pandapower or set [simulation] plant = "
                '"pandapower"'
            )
    return Plant(
        devices,
        nominal_frequency=site.simulation.nominal_frequency,
        droop=site.simulation.droop,
        start=start,
        grid=grid,
        tick_s=site.grid.tick_s,
    )
