"""The pandapower plant (simulators/grid.py): the mapping of substations onto a real network
(real pandapower, CIGRE MV), the meter values, and the plant's ticks and power-flow faults."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from config.grid import NetworkError, NetworkInfo, bus_map, read_network_file
from config.settings import GridSettings
from simulators.grid import Grid, build_grid, network_info_of
from simulators.plant import (
    MeterModel,
    Plant,
    PlantDevice,
    SeriesModel,
    SstModel,
    SubstationView,
)

NODES = ["a", "b", "c"]


def view(node: str, gateway: float = 0.0, drain: float = 10.0, **kw: float) -> SubstationView:
    return SubstationView(
        node,
        gateway,
        kw.get("generation", 0.0),
        kw.get("storage", 0.0),
        drain,
        kw.get("ev_power", 0.0),
    )


@pytest.fixture(scope="module")
def grid() -> Grid:
    """One CIGRE MV network for the module (each test writes every value it reads)."""
    return build_grid(GridSettings(buses={"a": 5, "b": 10, "c": "Bus 14"}), NODES, Path("."))


def test_the_shipped_bus_tables_match_pandapower(grid: Grid) -> None:
    from config.grid import builtin_network

    fresh = build_grid(GridSettings(), ["x"], Path("."))
    assert network_info_of(fresh.net) == builtin_network("cigre-mv")


def test_nodes_sit_at_their_buses_by_index_or_name(grid: Grid) -> None:
    assert {n: e.bus for n, e in grid.nodes.items()} == {"a": 5, "b": 10, "c": 14}
    # the feeding transformers: buses 1..11 hang off Trafo 0-1, 12..14 off Trafo 0-12
    assert grid.nodes["a"].trafo == grid.nodes["b"].trafo == 0
    assert grid.nodes["c"].trafo == 1


def test_the_automatic_spread_is_even_and_skips_the_slack_and_hv_buses() -> None:
    info = NetworkInfo({i: f"Bus {i}" for i in range(15)}, frozenset({0}), frozenset({0}))
    assert bus_map(info, NODES, {}) == {"a": 3, "b": 8, "c": 12}
    # a bus given to one node is not spread to another
    assert bus_map(info, NODES, {"b": 3}) == {"a": 5, "b": 3, "c": 11}
    assert bus_map(info, ["x"], {"x": "Bus 7"}) == {"x": 7}
    with pytest.raises(KeyError, match="no bus 99"):
        bus_map(info, ["x"], {"x": 99})


def test_grid_import_is_the_simple_plants(grid: Grid) -> None:
    views = {
        "a": view("a", gateway=12.0, drain=20.0, generation=5.0, storage=3.0, ev_power=7.0),
        "b": view("b", gateway=-8.0, drain=4.0),
        "c": view("c"),
    }
    got = grid.solve(views)
    for node, v in views.items():
        assert got[node]["grid_import"] == pytest.approx(v.grid_import, abs=1e-6)
    # in the network: kw_scale network kW per device kW, the SST as an sgen of -gateway
    e = grid.nodes["a"]
    assert grid.net.sgen.p_mw.at[e.sst] == pytest.approx(-12.0 * 20 / 1000)
    assert grid.net.storage.p_mw.at[e.storage] == pytest.approx(-3.0 * 20 / 1000)


def test_a_larger_gateway_draws_more_from_the_feeder_and_lowers_the_voltage(grid: Grid) -> None:
    low = grid.solve({n: view(n, gateway=-20.0) for n in NODES})
    high = grid.solve({n: view(n, gateway=40.0) for n in NODES})
    assert high["a"]["voltage"] < low["a"]["voltage"] - 0.02  # a visible change
    assert high["a"]["loading"] > low["a"]["loading"]
    assert high["a"]["trafo_loading"] > low["a"]["trafo_loading"]
    assert 0.8 < high["b"]["voltage"] < low["b"]["voltage"] < 1.1
    # the short feeder's end is stiffer, and the figures cover the whole network
    assert low["c"]["voltage"] - high["c"]["voltage"] < low["a"]["voltage"] - high["a"]["voltage"]
    assert grid.figures is not None
    assert grid.figures.min_vm_pu <= high["b"]["voltage"]


def test_load_scale_scales_the_networks_own_loads() -> None:
    half = build_grid(GridSettings(load_scale=0.5), ["x"], Path("."))
    assert set(half.net.load.scaling.iloc[:-1]) == {0.5}  # the node's own load stays at 1
    assert half.net.load.scaling.iloc[-1] == 1.0


def plant_on(grid: Grid, tick_s: float = 1.0) -> Plant:
    devices = []
    for node in NODES:
        devices += [
            PlantDevice(f"{node}-sst", node, "Sst", SstModel(states={"gateway": 0.0},
                                                             commands={"gateway": 0.0})),
            PlantDevice(f"{node}-load", node, "Load", SeriesModel(signal="drain")),
            PlantDevice(f"{node}-meter", node, "Meter", MeterModel()),
        ]  # fmt: skip
    return Plant(devices, nominal_frequency=376.8, droop=0.05, grid=grid, tick_s=tick_s)


def test_the_plant_solves_once_a_tick_and_fills_its_meters(grid: Grid) -> None:
    plant = plant_on(grid)
    first = dict(plant.devices["a-meter"].model.states)
    assert set(first) == {"voltage", "loading", "trafo_loading", "grid_import"}
    plant.command("a-sst", "gateway", 50.0)
    plant.advance(0.5)  # not due yet: the meter still shows the last power flow
    assert plant.read("a-meter", "voltage") == first["voltage"]
    plant.advance(1.0)
    assert plant.read("a-meter", "grid_import") == pytest.approx(50.0)
    assert plant.read("a-meter", "voltage") < first["voltage"]  # type: ignore[operator]


def test_a_power_flow_that_does_not_converge_is_a_plant_fault_that_recovers(
    grid: Grid, caplog: pytest.LogCaptureFixture
) -> None:
    plant = plant_on(grid)
    before = plant.read("b-meter", "voltage")
    with caplog.at_level(logging.WARNING, logger="simulators.grid"):
        plant.override("b-load", "drain", 300_000.0)  # 6 GW on a 20 kV feeder
        plant.advance(1.0)
        assert plant.grid_faults == 1
        assert plant.grid_fault is not None
        assert "did not converge" in plant.grid_fault
        assert plant.read("b-meter", "voltage") is None  # every meter reads as failed
        assert plant.read("a-meter", "loading") is None
        plant.advance(2.0)  # still too much: counted again, logged once
        assert plant.grid_faults == 2
        plant.override("b-load", "drain", 0.0)  # as before
        plant.advance(3.0)
    assert plant.grid_fault is None
    assert plant.read("b-meter", "voltage") == pytest.approx(before, abs=1e-6)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("did not converge" in m for m in messages) == 1, messages
    assert "last converged: vm" in messages[0]
    assert any("converges again after 2 failed tick(s)" in m for m in messages)


def test_a_network_file_is_read_without_pandapower(grid: Grid, tmp_path: Path) -> None:
    import pandapower as pp

    path = tmp_path / "net.json"
    pp.to_json(grid.net, str(path))
    info = read_network_file(path)
    assert info.buses[14] == "Bus 14"
    assert info.slack == {0}
    assert info.hv == {0}
    from_file = build_grid(GridSettings(network="net.json", buses={"x": "Bus 3"}), ["x"], tmp_path)
    assert from_file.solve({"x": view("x", gateway=5.0)})["x"]["grid_import"] == pytest.approx(15.0)
    (tmp_path / "other.json").write_text(json.dumps({"bus": []}))
    with pytest.raises(NetworkError, match="not a pandapower network"):
        read_network_file(tmp_path / "other.json")


def test_without_the_grid_extra_the_plant_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    from simulators.site_plant import PlantError, build_plant
    from tests.helpers import example

    monkeypatch.setitem(sys.modules, "pandapower", None)  # import pandapower: ImportError
    with pytest.raises(PlantError, match=r"pip install 'smartgrid-dgi\[grid\]'"):
        build_plant(example("demo-grid.toml"))
    with pytest.raises(PlantError, match="sst1-meter, sst2-meter, sst3-meter: a Meter reads"):
        build_plant(example("demo-grid.toml"), plant="simple")
