"""Readings from device views: sums, the actuator's PStar and limits, under both actuations."""

from __future__ import annotations

import math

import pytest

from controller.core.readings import DeviceView, readings_from, storage_command

SST = DeviceView("g", "Sst", {"gateway": -4.0}, {"gateway": -5.0}, {"gateway": (-50.0, 50.0)})
PV = DeviceView("p", "Drer", {"generation": 12.0}, {}, {})
LOAD = DeviceView("l", "Load", {"drain": 20.0}, {}, {})
EV = DeviceView(
    "e",
    "Evse",
    {"power": 3.0, "connected": 1.0},
    {"power_limit": 7.0},
    {"power_limit": (0.0, 22.0)},
)


def battery(soc: float = 50.0, setpoint: float = 2.0) -> DeviceView:
    states = {"storage": 1.5, "soc": soc, "soc_min": 10.0, "soc_max": 90.0}
    return DeviceView("b", "Desd", states, {"storage": setpoint}, {"storage": (-10.0, 10.0)})


def test_sst_actuation() -> None:
    r = readings_from([SST, PV, LOAD, EV, battery()])
    assert (r.gateway, r.generation, r.storage, r.drain) == (-4.0, 12.0, 1.5, 23.0)
    assert r.net_generation == 12.0 + 1.5 - 23.0  # EV chargers draw like loads
    assert (r.pstar, r.pstar_min, r.pstar_max) == (-5.0, -50.0, 50.0)
    assert r.dgi_enable is None  # no Logger
    assert r.fresh


def test_storage_actuation_moves_pstar_through_the_battery() -> None:
    r = readings_from([SST, PV, LOAD, battery(setpoint=2.0)], actuation="desd")
    assert r.net_generation == 12.0 - 20.0  # the battery is the actuator, not part of NG
    assert r.pstar == 2.0 + 12.0 - 20.0
    assert (r.pstar_min, r.pstar_max) == (-10.0 - 8.0, 10.0 - 8.0)
    assert storage_command(-3.0, r) == -3.0 - 12.0 + 20.0


@pytest.mark.parametrize(
    ("soc", "low", "high"), [(10.0, -18.0, -8.0), (90.0, -8.0, 2.0), (50.0, -18.0, 2.0)]
)
def test_storage_actuation_respects_the_soc_window(soc: float, low: float, high: float) -> None:
    r = readings_from([SST, PV, LOAD, battery(soc=soc)], actuation="desd")
    assert (r.pstar_min, r.pstar_max) == (low, high)


def test_a_stale_needed_device_makes_the_readings_stale_but_a_fid_does_not() -> None:
    stale_load = DeviceView("l", "Load", {"drain": 20.0}, {}, {}, fresh=False)
    stale_fid = DeviceView("f", "Fid", {"state": 1.0}, {}, {}, fresh=False)
    assert readings_from([SST, PV, stale_load]).stale == ("l",)
    assert readings_from([SST, PV, LOAD, stale_fid]).fresh


def test_without_an_actuator_pstar_is_unknown() -> None:
    r = readings_from([PV, LOAD])
    assert r.pstar is None
    assert (r.pstar_min, r.pstar_max) == (-math.inf, math.inf)


def test_fid_states_for_group_management() -> None:
    """Closed is any nonzero state; a Fid that did not answer (stale) is left out: unknown."""
    views = [
        SST,
        DeviceView("f2", "Fid", {"state": 0.0}, {}, {}),
        DeviceView("f1", "Fid", {"state": 1.0}, {}, {}),
        DeviceView("f3", "Fid", {"state": 1.0}, {}, {}, fresh=False),
        DeviceView("f4", "Fid", {"state": None}, {}, {}),
    ]
    r = readings_from(views)
    assert r.fids == (("f1", True), ("f2", False))
    assert r.fresh  # a stale Fid does not stop the node


def meter(fresh: bool = True, **states: float | None) -> DeviceView:
    return DeviceView("m", "Meter", states, {}, {}, fresh=fresh)


def test_the_grid_meter_is_shown_not_needed() -> None:
    """The Meter's values reach ``grid``; a stale one empties it but never stops drafting."""
    assert readings_from([SST, PV, LOAD]).grid is None  # no Meter
    r = readings_from([SST, PV, LOAD, meter(voltage=0.97, loading=42.0, grid_import=8.0)])
    assert r.grid is not None
    assert (r.grid.meter, r.grid.fresh) == ("m", True)
    assert (r.grid.voltage, r.grid.loading, r.grid.grid_import) == (0.97, 42.0, 8.0)
    assert r.grid.trafo_loading is None  # an optional state the profile did not give
    stale = readings_from([SST, PV, LOAD, meter(fresh=False, voltage=0.97, loading=42.0)])
    assert stale.fresh
    assert not stale.stale
    assert stale.grid is not None
    assert not stale.grid.fresh
    assert (stale.grid.voltage, stale.grid.loading) == (None, None)  # not the last values
