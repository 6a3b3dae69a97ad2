"""The plant model: lag, storage limits and SoC, series, EV draw, bus frequency — pure, time in."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from config.simulation import Series
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
from simulators.series import build_series, read_csv_rows
from simulators.site_plant import Sources


def sst(initial: float = 0.0, lag_s: float = 0.0, rating: float = 100.0) -> SstModel:
    return SstModel(
        states={"gateway": initial},
        commands={"gateway": initial},
        lag_s=lag_s,
        rating=(-rating, rating),
    )


def plant_of(*devices: tuple[str, str, str, DeviceModel]) -> Plant:
    return Plant([PlantDevice(*d) for d in devices], nominal_frequency=376.8, droop=0.05)


def test_gateway_follows_pstar_instantly_without_lag() -> None:
    plant = plant_of(("g", "n1", "Sst", sst()))
    plant.command("g", "gateway", 7.5)
    assert plant.read("g", "gateway") == 7.5


def test_gateway_follows_pstar_with_first_order_lag() -> None:
    plant = plant_of(("g", "n1", "Sst", sst(lag_s=2.0)))
    plant.command("g", "gateway", 10.0)
    plant.advance(2.0)
    assert plant.read("g", "gateway") == pytest.approx(10.0 * (1 - math.exp(-1)))
    plant.advance(20.0)
    assert plant.read("g", "gateway") == pytest.approx(10.0, abs=1e-3)


def test_pstar_is_clamped_to_the_rating() -> None:
    plant = plant_of(("g", "n1", "Sst", sst(rating=50.0)))
    plant.command("g", "gateway", 80.0)
    assert plant.commanded("g", "gateway") == 50.0


def desd(soc: float = 50.0, setpoint: float = 0.0, capacity: float = 10.0) -> DesdModel:
    return DesdModel(
        states={"storage": 0.0, "soc": soc, "soc_min": 10.0, "soc_max": 90.0},
        commands={"storage": setpoint},
        capacity_kwh=capacity,
        limits=(-5.0, 5.0),
    )


def test_storage_discharges_and_soc_falls() -> None:
    plant = plant_of(("b", "n1", "Desd", desd(setpoint=5.0)))
    plant.advance(360.0)  # 5 kW for 0.1 h = 0.5 kWh of 10 kWh = 5 %
    assert plant.read("b", "storage") == 5.0
    assert plant.read("b", "soc") == pytest.approx(45.0)


def test_storage_setpoint_is_limited_to_the_power_limit() -> None:
    plant = plant_of(("b", "n1", "Desd", desd(setpoint=-20.0)))
    plant.advance(1.0)
    assert plant.read("b", "storage") == -5.0


def test_a_battery_follows_its_plan_until_a_setpoint_is_written() -> None:
    battery = desd()
    battery.plan = build_series(Series(steps=[[0.0, 2.0], [10.0, -3.0]]))
    plant = plant_of(("b", "n1", "Desd", battery))
    plant.advance(5.0)
    assert plant.read("b", "storage") == 2.0
    plant.advance(15.0)
    assert plant.read("b", "storage") == -3.0
    plant.command("b", "storage", 1.0)  # a node takes over: the plan ends
    plant.advance(20.0)
    assert plant.read("b", "storage") == 1.0


@pytest.mark.parametrize(("soc", "setpoint"), [(10.0, 5.0), (90.0, -5.0)], ids=["empty", "full"])
def test_storage_stops_at_the_soc_window(soc: float, setpoint: float) -> None:
    plant = plant_of(("b", "n1", "Desd", desd(soc=soc, setpoint=setpoint)))
    plant.advance(100.0)
    assert plant.read("b", "storage") == 0.0
    assert plant.read("b", "soc") == soc


@pytest.mark.parametrize(
    ("series", "times", "values"),
    [
        (Series(value=3.0), [0, 100], [3.0, 3.0]),
        (Series(steps=[[0.0, 10.0], [30.0, 5.0]]), [0, 29.9, 30, 100], [10.0, 10.0, 5.0, 5.0]),
        (Series.model_validate({"ramp": {"start_s": 10, "duration_s": 10, "start": 0, "end": 20}}),
         [0, 10, 15, 20, 99], [0.0, 0.0, 10.0, 20.0, 20.0]),
    ],
    ids=["constant", "steps", "ramp"],
)  # fmt: skip
def test_series(series: Series, times: list[float], values: list[float]) -> None:
    fn = build_series(series)
    assert [fn(t) for t in times] == pytest.approx(values)


def test_csv_series_interpolates_and_loops() -> None:
    fn = build_series(Series(csv="x.csv", loop=True), [(0.0, 0.0), (10.0, 10.0), (20.0, 0.0)])
    assert [fn(t) for t in (5.0, 10.0, 15.0, 25.0)] == pytest.approx([5.0, 10.0, 5.0, 5.0])


def test_csv_series_scales_and_steps_where_two_rows_share_a_time(tmp_path: Path) -> None:
    path = tmp_path / "step.csv"
    path.write_text("time_s,kw\n0,0\n10,0\n10,2\n20,2\n20,0\n30,0\n", encoding="utf-8")
    rows = read_csv_rows(path, "time_s", None)
    fn = build_series(Series(csv="step.csv", scale=6.0), rows)
    assert [fn(t) for t in (5.0, 9.99, 10.0, 15.0, 19.99, 20.0, 25.0)] == pytest.approx(
        [0.0, 0.0, 12.0, 12.0, 12.0, 0.0, 0.0]
    )


def test_the_profile_clock_runs_series_faster_and_from_later(tmp_path: Path) -> None:
    day = Sources(tmp_path, time_scale=360.0, start_s=5 * 3600.0)
    ramp = Series.model_validate({"ramp": {"duration_s": 86400, "start": 0, "end": 24}})
    fn = day.series(ramp)  # the value is the hour of the day
    assert [fn(t) for t in (0.0, 10.0, 190.0)] == pytest.approx([5.0, 6.0, 24.0])


def test_load_override_replaces_the_series() -> None:
    plant = plant_of(
        ("l", "n1", "Load", SeriesModel(signal="drain", series=build_series(Series(value=20.0))))
    )
    assert plant.read("l", "drain") == 20.0
    plant.override("l", "drain", 35.0)
    plant.advance(10.0)
    assert plant.read("l", "drain") == 35.0


def test_ev_draws_up_to_its_limit_while_connected() -> None:
    ev = EvseModel(states={"connected": 1.0}, commands={"power_limit": 3.7}, demand=lambda _t: 7.4)
    plant = plant_of(("e", "n1", "Evse", ev))
    assert plant.read("e", "power") == 3.7
    plant.override("e", "connected", 0.0)
    assert plant.read("e", "power") == 0.0


def test_substation_balance_and_bus_frequency() -> None:
    plant = plant_of(
        ("g1", "n1", "Sst", sst(initial=-20.0)),
        ("p1", "n1", "Drer", SeriesModel(signal="generation", series=lambda _t: 10.0)),
        ("l1", "n1", "Load", SeriesModel(signal="drain", series=lambda _t: 20.0)),
        ("g2", "n2", "Sst", sst(initial=10.0)),
        ("w", "n2", "Omega", OmegaModel(states={"frequency": 0.0})),
    )
    n1 = plant.substations()["n1"]
    assert (n1.gateway, n1.net_generation, n1.grid_import) == (-20.0, -10.0, -10.0)
    assert plant.total_gateway() == -10.0
    assert plant.read("w", "frequency") == pytest.approx(376.8 - 0.5)


def test_time_never_runs_backwards() -> None:
    plant = plant_of(("b", "n1", "Desd", desd(setpoint=5.0)))
    plant.advance(360.0)
    plant.advance(100.0)
    assert plant.time == 360.0
    assert plant.read("b", "soc") == pytest.approx(45.0)


def test_a_following_sst_exports_what_its_substation_nets() -> None:
    gateway = SstModel(states={"gateway": 0.0}, commands={"gateway": 0.0}, follow=True)
    plant = plant_of(
        ("g", "n1", "Sst", gateway),
        ("p", "n1", "Drer", SeriesModel(signal="generation", series=lambda _t: 10.0)),
        ("b", "n1", "Desd", desd(setpoint=4.0)),
        ("l", "n1", "Load", SeriesModel(signal="drain", series=lambda _t: 20.0)),
    )
    plant.advance(1.0)
    assert plant.read("g", "gateway") == -6.0  # 10 + 4 - 20: no local grid
    plant.command("b", "storage", -3.0)
    assert plant.read("g", "gateway") == -13.0
