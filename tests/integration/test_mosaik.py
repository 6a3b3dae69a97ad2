"""The mosaik example (scenarios/mosaik/three_substations.py) in a real mosaik world: the
nodes balance the plant the mosaik-csv profiles drive, judged from the plant's own values;
once with the nodes' simulator in a process of its own, as mosaik starts one on another
host."""

from __future__ import annotations

import csv
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from config.loader import load_site
from controller.cosim.mosaik_plant import PlantSide
from controller.cosim.mosaik_sims import site_plant
from tests.conftest import copy_site, free_port
from tests.helpers import add_devices, simulated_meter

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "scenarios" / "mosaik" / "three_substations.py"


def scenario() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mosaik_three_substations", SCENARIO)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def series(summary: dict[str, Any], device: str) -> dict[float, float]:
    return {round(t, 3): values[device] for t, values in summary["trace"]}


def children() -> list[int]:
    """The processes this test process started that still run."""
    mine = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            mine.append(int(stat.parent.name))
    return mine


@pytest.mark.timeout(120)
def test_the_nodes_balance_the_plant_the_profiles_drive() -> None:
    summary = scenario().run(120.0, trace=True)
    # The CSV steps reach the plant: sst1's PV 10 -> 16 kW at 60 s, sst2's load 25 -> 31 at 90 s.
    pv, load = series(summary, "sst1-pv"), series(summary, "sst2-load")
    assert (pv[59.9], pv[60.0], pv[119.9]) == (10.0, 16.0, 16.0)
    assert (load[89.9], load[90.0]) == (25.0, 31.0)
    # Judged from the plant: every substation balanced, Σ setpoint unchanged.
    assert all(abs(d) < 0.05 for d in summary["imbalance"].values()), summary["imbalance"]
    assert summary["setpoint_sum_change"] == pytest.approx(0.0, abs=1e-9)
    assert summary["migrations"] >= 3  # sst2 -> sst1, sst3 at the start; sst1 -> sst2 after 90 s
    # What the plant was sent is what the nodes wrote, one step later.
    sent = [s for s in summary["sent"] if s[0] < 120.0]
    assert sent == summary["received"]
    late = sorted((device, signal, round(value, 6)) for t, device, signal, value in sent if t > 90)
    assert late == [("sst1-gateway", "gateway", -4.0), ("sst2-gateway", "gateway", -16.0)]


@pytest.mark.timeout(120)
def test_the_nodes_in_their_own_process(tmp_path: Path) -> None:
    pv = tmp_path / "pv.csv"
    pv.write_text(
        "PV\nDate,P_kw\n2024-06-01 12:00:00,10.0\n2024-06-01 12:00:20,12.5\n", encoding="utf-8"
    )
    results = tmp_path / "results.csv"
    summary = scenario().run(40.0, nodes_process=True, pv=pv, trace=True, results=results)
    assert not children()  # mosaik stopped the nodes' process
    generation = series(summary, "sst1-pv")
    assert (generation[19.9], generation[20.0]) == (10.0, 12.5)
    # The nodes, in the other process, saw the step: sst1's net generation 12.5 - 20.
    assert summary["nodes"]["sst1"]["NG"] == pytest.approx(-7.5)
    sent = [s for s in summary["sent"] if s[0] < 40.0]
    assert sent == summary["received"]
    assert summary["imbalance"]["sst2"] == pytest.approx(0.0, abs=0.05)
    assert summary["setpoint_sum_change"] == pytest.approx(0.0, abs=1e-9)
    # mosaik-csv's CSVWriter observed the plant and the nodes every step.
    with results.open(encoding="utf-8") as rows:
        recorded = list(csv.DictReader(rows))
    assert len(recorded) == 400
    assert recorded[0]["date"] == "2024-06-01 12:00:00.000000"
    assert float(recorded[0]["Plant-0.substation-sst2-grid_import"]) == pytest.approx(20.0)
    assert float(recorded[-1]["Plant-0.substation-sst2-grid_import"]) == pytest.approx(
        0.0, abs=0.05
    )
    assert float(recorded[-1]["Nodes-0.sst1-NG"]) == pytest.approx(-7.5)
    assert recorded[-1]["Nodes-0.sst1-state"] in {"normal", "supply", "demand"}


def awaiting(log: Path, within: float) -> bool:
    """The simulator says it listens (it serves one connection: a probe would take it)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if "awaits connection from mosaik" in log.read_text(encoding="utf-8", errors="replace"):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.timeout(120)
def test_mosaik_connects_to_nodes_already_running(tmp_path: Path) -> None:
    """The multi-host form: the nodes' simulator listens (``--remote``), the world connects."""
    port = free_port()
    command = [sys.executable, "-m", "controller.cosim.mosaik_sims", "Nodes", "-l", "info",
               "--remote", f"127.0.0.1:{port}"]  # fmt: skip
    log = tmp_path / "nodes.log"
    with log.open("w") as sink:
        nodes = subprocess.Popen(command, cwd=ROOT, stderr=sink)
    try:
        assert awaiting(log, within=30.0), log.read_text()
        summary = scenario().run(20.0, nodes_at=f"127.0.0.1:{port}")
        assert nodes.wait(timeout=30) == 0  # it ends with the world
    finally:
        if nodes.poll() is None:
            nodes.kill()
            nodes.wait()
    assert all(abs(d) < 0.05 for d in summary["imbalance"].values()), summary["imbalance"]
    assert [s for s in summary["sent"] if s[0] < 20.0] == summary["received"]


@pytest.mark.timeout(120)
def test_a_nodes_simulator_per_feeder() -> None:
    """sst1 and sst2 in one NodesSim (in a process of its own), sst3 in another: sst2's
    surplus goes to sst1 only; sst3, alone on its network, keeps its deficit."""
    summary = scenario().run(40.0, nodes_process=True, groups=[["sst1", "sst2"], ["sst3"]])
    assert not children()
    imbalance = summary["imbalance"]
    assert imbalance["sst1"] == pytest.approx(0.0, abs=0.05)
    assert imbalance["sst2"] == pytest.approx(10.0, abs=0.05)
    assert imbalance["sst3"] == pytest.approx(-10.0, abs=0.05)
    assert summary["setpoint_sum_change"] == pytest.approx(0.0, abs=1e-9)
    assert summary["nodes"]["sst3"]["pstar"] == pytest.approx(-20.0)
    assert [s for s in summary["sent"] if s[0] < 40.0] == summary["received"]


@pytest.mark.timeout(120)
def test_the_example_on_the_pandapower_plant() -> None:
    """The same coupling with the plant's substations on the CIGRE MV feeder: every plant
    step's power flow converges, and the nodes balance as on the simple plant."""
    summary = scenario().run(100.0, plant="pandapower")
    assert summary["power_flow"]
    assert summary["grid_faults"] == 0
    assert all(abs(d) < 0.05 for d in summary["imbalance"].values()), summary["imbalance"]
    assert summary["setpoint_sum_change"] == pytest.approx(0.0, abs=1e-9)


def test_a_meter_entity_gives_the_power_flow(tmp_path: Path) -> None:
    """A site with a grid meter: its mosaik entity's outputs are the power flow's at its bus,
    and a PStar written as mosaik writes it moves the voltage."""
    path = copy_site("three-substations.toml", tmp_path)
    path.write_text(add_devices(path.read_text(), "sst2", simulated_meter("sst2-meter")))
    site = load_site(path)
    side = PlantSide(site_plant(site, "pandapower"), site.devices)
    side.step(1.0, {})
    before = side.outputs({"sst2-meter": ["voltage", "loading", "grid_import"]})["sst2-meter"]
    assert 0.9 < float(before["voltage"]) < 1.1  # type: ignore[arg-type]
    side.step(2.0, {"sst2-gateway": {"gateway_set": {"Nodes-0.sst2": 60.0}}})
    side.step(3.0, {})
    after = side.outputs({"sst2-meter": ["voltage"]})["sst2-meter"]
    assert float(after["voltage"]) < float(before["voltage"]) - 0.005  # type: ignore[arg-type]
