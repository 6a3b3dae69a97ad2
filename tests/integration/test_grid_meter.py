"""A node reads its grid meter like any device: a ``Meter`` the simulator serves over
Modbus/TCP (the meter profile, float32 input registers), whose values the pandapower plant's
power flow sets. They reach ``/api/v1/status`` (``grid``) and ``/metrics``; a failed meter
(its server stopped, or a power flow that does not converge) empties both (no sample, not 0)
and the node goes on balancing."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_site
from controller.node.runtime import NodeRuntime
from controller.node.snapshot import snapshot
from simulators.runner import Simulation
from tests.conftest import copy_site, free_port, require_tool
from tests.helpers import add_devices, simulated_meter, until
from tests.integration.conftest import Running, live_node
from tests.integration.test_node_runtime import KEYS

GRID_METRICS = (
    "dgi_bus_voltage_pu",
    "dgi_line_loading_percent",
    "dgi_trafo_loading_percent",
    "dgi_grid_import_kw",
)
SIGNALS = ("voltage", "loading", "trafo_loading", "grid_import")
KEYS_OF = dict(
    zip(
        SIGNALS,
        ("voltage_pu", "loading_percent", "trafo_loading_percent", "grid_import_kw"),
        strict=True,
    )
)


def on_the_grid(text: str) -> str:
    """The site on the pandapower plant (CIGRE MV, the default [grid])."""
    return text.replace("[simulation]\n", '[simulation]\nplant = "pandapower"\n', 1)


def power_flow(sim: Simulation, meter: str) -> dict[str, float]:
    """What the plant's power flow gives the meter, by status key."""
    values = {KEYS_OF[s]: sim.plant.read(meter, s) for s in SIGNALS}
    assert all(v is not None for v in values.values()), values
    return {k: float(v) for k, v in values.items() if v is not None}


@pytest.fixture
async def metered(tmp_path: Path) -> AsyncIterator[Running]:
    """sst1 of three-substations (static group, silent peers) with a simulated grid meter."""
    meter = simulated_meter("sst1-meter", free_port())
    edit = lambda text: on_the_grid(add_devices(text, "sst1", meter))  # noqa: E731
    async with live_node(tmp_path, "three-substations.toml", group="static", edit=edit) as node:
        yield node


async def grid_when(client: httpx.AsyncClient, wanted: Any, within_s: float = 10) -> dict[str, Any]:
    """The status's grid part once ``wanted(grid)`` holds."""
    deadline = time.monotonic() + within_s
    while True:
        grid: dict[str, Any] = (await client.get("/api/v1/status")).json()["grid"]
        if wanted(grid):
            return grid
        assert time.monotonic() < deadline, grid
        await asyncio.sleep(0.1)


def samples(text: str) -> dict[str, float]:
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith(GRID_METRICS)
    }


async def test_the_meter_values_reach_the_status_and_the_metrics(metered: Running) -> None:
    async with httpx.AsyncClient(base_url=metered.base, timeout=5) as client:
        grid = await grid_when(client, lambda g: g["voltage_pu"] is not None)
        text = (await client.get("/metrics")).text
    flow = power_flow(metered.sim, "sst1-meter")  # the static site: the same every tick
    assert grid["meter"] == "sst1-meter"
    assert grid["fresh"]
    assert 0.9 < grid["voltage_pu"] < 1.1
    for key, value in flow.items():
        assert grid[key] == pytest.approx(value, rel=1e-5, abs=1e-4)  # a float32 register
    assert samples(text) == pytest.approx(
        {metric: flow[KEYS_OF[s]] for metric, s in zip(GRID_METRICS, SIGNALS, strict=True)},
        rel=1e-5, abs=1e-4,
    )  # fmt: skip
    checked = subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=text, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


async def test_a_power_flow_that_does_not_converge_empties_the_meter(metered: Running) -> None:
    """A load far beyond the feeder: the power flow does not converge, the plant clears the
    meter (it serves "no value", raw 1e8, which the driver takes as a failed read). Its values
    are null and no grid metric has a sample (the load, beyond its profile's range, is what
    stops the node drafting; never the meter); the load back, the next power flow converges
    and the values return."""
    node = metered.node
    async with httpx.AsyncClient(base_url=metered.base, timeout=5) as client:
        await grid_when(client, lambda g: g["voltage_pu"] is not None)
        metered.sim.set_state("sst1-load", "drain", 300_000.0)
        grid = await grid_when(client, lambda g: not g["fresh"])
        rounds = node.lb.rounds
        await until(lambda: node.lb.rounds >= rounds + 2, 5, "two more rounds")
        text = (await client.get("/metrics")).text
        assert grid["voltage_pu"] is None
        assert samples(text) == {}
        assert node.lb.readings.stale == ("sst1-load",)  # a Meter is not needed to draft
        assert metered.sim.plant.grid_faults > 0
        metered.sim.set_state("sst1-load", "drain", 10.0)
        back = await grid_when(client, lambda g: g["fresh"] and g["voltage_pu"] is not None)
    assert 0.9 < back["voltage_pu"] < 1.1


async def test_a_failed_meter_empties_the_grid_and_the_node_drafts_on(metered: Running) -> None:
    node = metered.node
    async with httpx.AsyncClient(base_url=metered.base, timeout=5) as client:
        await grid_when(client, lambda g: g["voltage_pu"] is not None)
        await metered.sim.stop_server("sst1-meter")
        grid = await grid_when(client, lambda g: not g["fresh"])
        rounds = node.lb.rounds
        await until(lambda: node.lb.rounds >= rounds + 3, 5, "three more rounds")
        status = (await client.get("/api/v1/status")).json()
        text = (await client.get("/metrics")).text
        assert grid == {
            "meter": "sst1-meter", "fresh": False, "voltage_pu": None, "loading_percent": None,
            "trafo_loading_percent": None, "grid_import_kw": None,
        }  # fmt: skip
        assert samples(text) == {}  # absent, not 0 (nor the last values)
        assert 'dgi_device_stale{device="sst1-meter",type="Meter"} 1.0' in text
        assert node.lb.readings.fresh  # a Meter is not needed to draft
        assert node.lb.readings.stale == ()
        assert status["health"]["state"] == "healthy"
        assert not status["released"]
        await metered.sim.restart_server("sst1-meter")
        back = await grid_when(client, lambda g: g["fresh"] and g["voltage_pu"] is not None)
    assert back["voltage_pu"] == pytest.approx(
        power_flow(metered.sim, "sst1-meter")["voltage_pu"], abs=1e-3
    )


async def test_three_nodes_balance_while_a_meter_is_down(tmp_path: Path) -> None:
    """FREEDM's test 1 (gateways -20, 10, -20 kW; every net generation -10 kW) with a grid
    meter at each substation, sst2's down from the start: the group balances all the same."""
    path = copy_site("three-substations.toml", tmp_path)
    text = path.read_text().replace("lag_s = 0.2", "lag_s = 0.0")
    text = text.replace("[algorithm]\n", '[algorithm]\ngroup_management = "static"\n')
    for node_id in ("sst1", "sst2", "sst3"):
        text = add_devices(text, node_id, simulated_meter(f"{node_id}-meter"))
    path.write_text(on_the_grid(text))
    site = load_site(path)
    async with Simulation(site) as sim:
        await sim.stop_server("sst2-meter")
        addresses = {d.id: sim.address(d.id) for d in site.devices}
        nodes = [NodeRuntime(site, n, KEYS, addresses=addresses, api=False) for n in ("sst1", "sst2", "sst3")]  # fmt: skip
        for node in nodes:
            await node.start()
        try:

            def balanced() -> bool:
                return all(
                    n.lb.rounds > 0 and abs(n.lb.gateway - n.lb.net_generation) <= 0.05
                    for n in nodes
                )

            await until(balanced, 20, "the group balanced")

            def shown_as_solved() -> bool:  # the node's last read of the last power flow
                for n in nodes[0], nodes[2]:
                    shown = snapshot(n, time.time()).grid
                    solved = sim.plant.read(f"{n.node.id}-meter", "voltage")
                    if shown is None or shown.voltage_pu is None or solved is None:
                        return False
                    if abs(shown.voltage_pu - solved) > 1e-5:
                        return False
                return True

            await until(shown_as_solved, 10, "sst1 and sst3 show the power flow's voltage")
            grids = {n.node.id: snapshot(n, time.time()).grid for n in nodes}
        finally:
            for node in nodes:
                await node.stop(release=False)
    assert [n.lb.gateway for n in nodes] == pytest.approx([-10.0, -10.0, -10.0], abs=0.05)
    assert sum(n.lb.migrations_in for n in nodes) > 0  # sst2 supplied sst1 and sst3
    assert grids["sst2"].meter == "sst2-meter"
    assert not grids["sst2"].fresh
    assert grids["sst2"].voltage_pu is None
    assert 0.9 < grids["sst1"].voltage_pu < 1.1  # type: ignore[operator]
    assert not any(n.released for n in nodes)
