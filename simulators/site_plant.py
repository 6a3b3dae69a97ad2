"""Build the plant of a site from its simulated devices (reads CSV series; not pure)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

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
from config.site import Device, Site
from simulators.plant import (
    DesdModel,
    DeviceModel,
    EvseModel,
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


def _series(series: Series, base: Path) -> SeriesFn:
    rows: list[tuple[float, float]] = []
    if series.csv is not None:
        path = Path(series.csv) if Path(series.csv).is_absolute() else base / series.csv
        rows = read_csv_rows(path, series.time_column, series.column)
    return build_series(series, rows)


def _sst(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, SstSim)
    return SstModel(
        states={"gateway": sim.initial_kw},
        commands={"gateway": sim.initial_kw},
        lag_s=sim.lag_s,
        rating=_limits(device, "gateway"),
        follow=sim.follow,
    )


def _desd(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, DesdSim)
    return DesdModel(
        states={"storage": 0.0, "soc": sim.soc, "soc_min": sim.soc_min, "soc_max": sim.soc_max},
        commands={"storage": sim.initial_kw},
        capacity_kwh=sim.capacity_kwh,
        limits=_limits(device, "storage"),
    )


def _drer(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, DrerSim)
    return SeriesModel(signal="generation", series=_series(sim.generation, base))


def _load(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, LoadSim)
    return SeriesModel(signal="drain", series=_series(sim.drain, base))


def _evse(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, EvseSim)
    return EvseModel(
        states={"connected": 1.0 if sim.connected else 0.0, "power": 0.0},
        commands={"power_limit": sim.initial_limit_kw},
        demand=_series(sim.demand_kw, base),
    )


def _logger(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, LoggerSim)
    return DeviceModel(
        states={"dgiEnable": 1.0 if sim.dgi_enable else 0.0}, commands={"groupStatus": 0.0}
    )


def _omega(device: Device, base: Path) -> DeviceModel:
    return OmegaModel(states={"frequency": 0.0})


def _fid(device: Device, base: Path) -> DeviceModel:
    sim = _sim(device, FidSim)
    return DeviceModel(states={"state": 1.0 if sim.closed else 0.0})


MODEL_BUILDERS: dict[str, Callable[[Device, Path], DeviceModel]] = {
    "Sst": _sst,
    "Desd": _desd,
    "Drer": _drer,
    "Load": _load,
    "Evse": _evse,
    "Logger": _logger,
    "Omega": _omega,
    "Fid": _fid,
}


def initial_model(site: Site, device: Device) -> DeviceModel:
    """A simulated device's model as it starts (and restarts)."""
    return MODEL_BUILDERS[device.type](device, Path(site.path).parent)


def build_plant(site: Site, *, start: float = 0.0) -> Plant:
    """The plant of every ``simulated`` device of ``site``."""
    devices = [
        PlantDevice(d.id, d.node_id, d.type, initial_model(site, d))
        for d in site.devices
        if d.simulated
    ]
    return Plant(
        devices,
        nominal_frequency=site.simulation.nominal_frequency,
        droop=site.simulation.droop,
        start=start,
    )
