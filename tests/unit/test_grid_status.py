"""The grid part of a node's status and metrics, from the real snapshot code: null and no
sample without a meter or with a stale one, the meter's values otherwise."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from controller.api import models as m
from controller.api.app import ApiState, create_app, fixed_token
from controller.api.grid import Grid
from controller.api.metrics import new_registry
from controller.core.readings import GridReading
from tests.unit.test_api_app import GRID, NOW, live_snapshot  # noqa: F401 (a fixture)

GRID_METRICS = (
    "dgi_bus_voltage_pu",
    "dgi_line_loading_percent",
    "dgi_trafo_loading_percent",
    "dgi_grid_import_kw",
)


def app_with(snapshot: m.Snapshot) -> TestClient:
    state = ApiState("sst1")
    state.snapshot = snapshot
    registry = new_registry()
    return TestClient(
        create_app(state, registry=registry, tokens=fixed_token(None), clock=lambda: NOW)
    )


def samples(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(GRID_METRICS)
    }


def test_without_a_meter_the_grid_is_null_and_has_no_sample(live_snapshot: m.Snapshot) -> None:  # noqa: F811
    client = app_with(live_snapshot)
    assert client.get("/api/v1/status").json()["grid"] == {
        "meter": None,
        "fresh": False,
        "voltage_pu": None,
        "loading_percent": None,
        "trafo_loading_percent": None,
        "grid_import_kw": None,
    }
    text = client.get("/metrics").text
    assert not any(name in text for name in GRID_METRICS)  # absent, not 0


def test_the_meter_values_are_in_the_status_and_the_metrics(live_snapshot: m.Snapshot) -> None:  # noqa: F811
    live_snapshot.grid = GRID
    client = app_with(live_snapshot)
    grid = client.get("/api/v1/status").json()["grid"]
    assert grid["meter"] == "sst1-meter"
    assert grid["fresh"]
    assert (grid["voltage_pu"], grid["loading_percent"]) == (0.962, 104.5)
    assert samples(client.get("/metrics").text) == {
        "dgi_bus_voltage_pu": 0.962,
        "dgi_line_loading_percent": 104.5,
        "dgi_trafo_loading_percent": 71.0,
        "dgi_grid_import_kw": 12.5,
    }


@pytest.mark.parametrize(
    ("reading", "shown"),
    [
        (None, {"meter": None, "fresh": False}),
        (GridReading("m", fresh=False), {"meter": "m", "fresh": False}),
        (GridReading("m", fresh=True, voltage=1.0), {"meter": "m", "fresh": True}),
    ],
)
def test_grid_of_a_reading(reading: GridReading | None, shown: dict[str, object]) -> None:
    grid = Grid.of(reading)
    assert grid.model_dump(include={"meter", "fresh"}) == shown
    assert grid.voltage_pu == (1.0 if reading is not None and reading.fresh else None)
    assert grid.grid_import_kw is None


def test_a_partial_meter_exports_only_what_it_knows(live_snapshot: m.Snapshot) -> None:  # noqa: F811
    """A meter without the optional states: voltage and loading, no trafo or import sample."""
    live_snapshot.grid = Grid.of(GridReading("m", fresh=True, voltage=1.07, loading=20.0))
    text = app_with(live_snapshot).get("/metrics").text
    assert samples(text) == {"dgi_bus_voltage_pu": 1.07, "dgi_line_loading_percent": 20.0}
