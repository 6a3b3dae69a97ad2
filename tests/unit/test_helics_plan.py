"""The HELICS federation's pure parts: packed values, the split of nodes, the runner file,
and a federate's nodes fed by hand (no HELICS)."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from config.loader import load_site
from controller.cosim.federated_nodes import FederatedNodes
from controller.cosim.helics_plan import (
    RunnerSettings,
    StatesReport,
    pack_setpoints,
    pack_states,
    runner,
    select_nodes,
    split_nodes,
    unpack_setpoints,
    unpack_states,
)
from simulators.site_plant import build_plant

ROOT = Path(__file__).resolve().parents[2]
THREE = ROOT / "config/examples/three-substations.toml"


def test_states_and_setpoints_round_trip() -> None:
    report = StatesReport(1.25, {"sst1-gateway": {"gateway": -20.0}}, {"d": {"storage": None}})
    assert unpack_states(pack_states(report)) == report
    writes = [("sst1-gateway", "gateway", -10.0), ("sst1-gateway", "gateway", -9.0)]
    assert unpack_setpoints(pack_setpoints(writes)) == writes
    assert unpack_setpoints('[["a", "b", 3]]') == [("a", "b", 3.0)]  # an int is a float


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nope", "not JSON"),
        ("[]", "states report"),
        ('{"t": 1, "s": {"d": {"x": "1"}}}', "not a number"),
        ('{"t": 1, "s": {"d": 3}}', "object of signals"),
        ('{"t": 1, "h": {"d": {"x": true}}}', "not a number"),
    ],
)
def test_a_bad_states_value_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        unpack_states(text)


@pytest.mark.parametrize(
    ("text", "says"),
    [("{}", "a list"), ('[["a", "b"]]', "not \\[device"), ('[["a", "b", "c"]]', "not a number")],
)
def test_bad_setpoints_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        unpack_setpoints(text)


def test_split_keeps_runs_contiguous_and_even() -> None:
    nodes = [f"n{i}" for i in range(1, 11)]
    runs = split_nodes(nodes, 3)
    assert runs == [nodes[0:4], nodes[4:7], nodes[7:10]]
    assert split_nodes(nodes, 1) == [nodes]
    with pytest.raises(ValueError, match="at most one per node"):
        split_nodes(nodes[:2], 3)
    with pytest.raises(ValueError, match="at least one"):
        split_nodes(nodes, 0)


def test_select_nodes() -> None:
    site = ["a", "b", "c", "d"]
    assert select_nodes(site, nodes="c, a", all_nodes=False, part=None) == ["c", "a"]
    assert select_nodes(site, nodes=None, all_nodes=True, part=None) == site
    assert select_nodes(site, nodes=None, all_nodes=False, part="2/2") == ["c", "d"]
    with pytest.raises(ValueError, match="unknown node\\(s\\) x; the site's nodes: a, b, c, d"):
        select_nodes(site, nodes="a,x", all_nodes=False, part=None)
    with pytest.raises(ValueError, match="exactly one"):
        select_nodes(site, nodes="a", all_nodes=True, part=None)
    with pytest.raises(ValueError, match="I/N"):
        select_nodes(site, nodes=None, all_nodes=False, part="3/2")


def test_runner_names_a_broker_the_plant_and_each_slice() -> None:
    settings = RunnerSettings("site dir/s.toml", 2, 23500, dgi="python -m controller",
                              record_dir="rec", directory="../..")  # fmt: skip
    document = runner(settings, ["a", "b", "c"])
    federates = document["federates"]
    assert isinstance(federates, list)
    names = [f["name"] for f in federates]
    assert names == ["broker", "plant", "nodes1", "nodes2"]
    broker = shlex.split(federates[0]["exec"])
    assert broker[:5] == ["helics_broker", "-t", "tcp", "-f", "3"]
    assert "--local_interface=127.0.0.1:23500" in broker
    node = shlex.split(federates[3]["exec"])
    assert node[:4] == ["python", "-m", "controller", "cosim-node"]
    assert node[node.index("--config") + 1] == "site dir/s.toml"
    assert node[node.index("--slice") + 1] == "2/2"
    assert node[node.index("--record") + 1] == "rec/nodes2.json"
    assert all(f["directory"] == "../.." for f in federates)
    with pytest.raises(ValueError, match="at most one per node"):
        runner(RunnerSettings("s.toml", 4, 1), ["a", "b", "c"])


def test_federated_nodes_balance_around_a_plant_fed_by_hand() -> None:
    """Two federates' nodes and the site's plant, stepped as the HELICS loop steps them (a
    value and a datagram take one step), without HELICS: the group balances."""
    site = load_site(THREE)
    plant = build_plant(site)
    parts = [FederatedNodes(site, ["sst1", "sst2"]), FederatedNodes(site, ["sst3"])]
    by_node = {n: p for p in parts for n in p.node_ids}
    step, now = 0.01, 0.0
    devices = {d.id: d for d in site.devices if d.in_plant}

    def sample(at: float) -> dict[str, StatesReport]:
        out: dict[str, StatesReport] = {}
        for node in by_node:
            mine = [d for d in devices.values() if d.node_id == node]
            out[node] = StatesReport(
                at,
                {d.id: {p.signal: plant.read(d.id, p.signal) for p in d.profile.points
                        if p.is_state} for d in mine},
                {d.id: {p.signal: plant.commanded(d.id, p.signal) for p in d.profile.points
                        if p.is_command and p.readable} for d in mine},
            )  # fmt: skip
        return out

    reports = sample(0.0)
    for k in range(1, 301):
        for node, report in reports.items():
            by_node[node].report(node, report)
        for part in parts:
            part.run_until(k * step)
        writes = [w for part in parts for ws in part.take_writes().values() for w in ws]
        sent = [s for part in parts for s in part.take_sent()]
        now = k * step
        plant.advance(now)
        for device, signal, value in writes:
            plant.command(device, signal, value)
        for to, datagram in sent:
            by_node[to].deliver(to, datagram)
        reports = sample(now)
    views = plant.substations()
    for node, view in views.items():
        assert view.gateway == pytest.approx(view.net_generation, abs=0.06), node
    assert sum(p.received for p in parts) > 0
    assert sum(p.refused() for p in parts) == 0


def test_bad_input_is_dropped_and_counted() -> None:
    site = load_site(THREE)
    nodes = FederatedNodes(site, ["sst1"])
    nodes.report("sst1", StatesReport(0.0, {"nope": {"gateway": 1.0}}, {}))
    nodes.report("sst9", StatesReport(0.0, {}, {}))
    nodes.deliver("sst2", b"x")
    nodes.deliver("sst1", b"not a datagram")
    assert nodes.dropped == {
        "report of an unknown device or signal": 1,
        "report for an unknown node": 1,
        "datagram for a node not here": 1,
    }
    assert nodes.refused() == 1
    with pytest.raises(ValueError, match="unknown node\\(s\\) sst9"):
        FederatedNodes(site, ["sst9"])


def test_the_shipped_runner_file_is_what_cosim_runner_writes() -> None:
    """scenarios/cosim/three-substations.json: `dgi cosim-runner --config
    config/examples/three-substations.toml --federates 2 --broker-port 23500 --until 10
    --record-dir sim-out/cosim -o scenarios/cosim/three-substations.json` from the root."""
    shipped = json.loads((ROOT / "scenarios/cosim/three-substations.json").read_text())
    settings = RunnerSettings("config/examples/three-substations.toml", 2, 23500, until_s=10.0,
                              record_dir="sim-out/cosim", directory="../..")  # fmt: skip
    assert shipped == runner(settings, ["sst1", "sst2", "sst3"])


def test_dgi_starts_without_importing_helics() -> None:
    code = "import sys, controller.cli.app; print('helics' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"


GENERATED = """
[scenario]
name = "cosim-50"
duration_s = 5
tiers = {tiers}

[generate]
nodes = 50
feeders = 2
timings = "fast-30"
"""


@pytest.mark.parametrize("tiers", [True, False])
def test_a_generated_scenario_gives_each_node_its_feeder(tmp_path: Path, tiers: bool) -> None:
    from controller.cli.cosim_cmd import load_for_cosim

    path = tmp_path / "scenario.toml"
    path.write_text(GENERATED.format(tiers=str(tiers).lower()))
    loaded = load_for_cosim(path)
    ids = [n.id for n in loaded.site.nodes]
    assert len(ids) == 50
    assert loaded.members is not None
    assert loaded.anchors == (2 if tiers else 0)
    part = split_nodes(ids, 2)[1]
    nodes = FederatedNodes(loaded.site, part, members=loaded.members, anchors=loaded.anchors)
    spec = nodes.group._specs[part[0]]  # what its core was built from
    assert sorted(spec.nodes) == sorted(loaded.members[part[0]])
    assert len(spec.nodes) == 25
    assert len(spec.tier_peers) == (4 if tiers else 0)  # 2 anchors per feeder
