"""Scenario files (controller/sim/scenario.py) and generated sites (controller/sim/generate.py):
bad files refused with every problem named, good ones loaded, generated sites valid (the real
loader reads what write_site writes), deterministic and split into feeders."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config.errors import ConfigError
from config.loader import load_site
from config.simulation import SstSim
from config.site import Site
from config.topology import collected_bytes
from controller.gm.topology import reachable
from controller.sim.events import CrashEvent, LoadEvent, PartitionEvent
from controller.sim.generate import Span, generate_site, write_site
from controller.sim.scenario import Scenario, load_scenario
from simulators.site_plant import build_plant

ROOT = Path(__file__).resolve().parents[2]
THREE = ROOT / "config" / "examples" / "three-substations.toml"

HEADER = '[scenario]\nname = "s"\nduration_s = 60.0\n'
SITE = f'site = "{THREE}"\n'
GENERATE = "[generate]\nnodes = 12\nfeeders = 3\n"


def event(**keys: object) -> str:
    def show(value: object) -> str:
        return f'"{value}"' if isinstance(value, str) else repr(value).replace("'", '"')

    return "\n[[events]]\n" + "".join(f"{k} = {show(v)}\n" for k, v in keys.items())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_ok(tmp_path: Path, text: str) -> Scenario:
    scenario, issues = load_scenario(write(tmp_path, text))
    assert issues == []
    assert scenario is not None
    return scenario


# (file text, the path the issue names, a piece of its rule)
BAD = [
    (SITE, "scenario", "required key missing"),
    (SITE + HEADER.replace("60.0", "0.0"), "scenario.duration_s", "must be > 0"),
    (SITE + HEADER + 'mode = "fast"\n', "scenario.mode", "must be one of freedm, adaptive"),
    (SITE + HEADER + "sample_s = -1\n", "scenario.sample_s", "must be > 0"),
    (SITE + HEADER + "seed = 1.5\n", "scenario.seed", "must be an integer"),
    (SITE + HEADER + "speed = 2\n", "scenario.speed", "unknown key"),
    (HEADER, "site", 'required: site = "FILE"'),
    ('site = "nowhere.toml"\n' + HEADER, "site", "site file not found"),
    (SITE + HEADER + GENERATE, "generate", "not both"),
    ('topology = "t.cfg"\n' + HEADER + GENERATE, "topology", "its own topology"),
    (SITE + 'topology = "none.cfg"\n' + HEADER, "topology", "topology file not found"),
    (HEADER + "[generate]\nnodes = 0\n", "generate.nodes", "must be 1..5000"),
    (HEADER + "[generate]\nnodes = 5001\n", "generate.nodes", "must be 1..5000"),
    (HEADER + "[generate]\nnodes = 3\nfeeders = 4\n", "generate", "feeders (4) must be at most nodes (3)"),
    (HEADER + GENERATE + 'load_kw = "lots"\n', "generate.load_kw", "a number or { min, max }"),
    (HEADER + GENERATE + "load_kw = { min = 5, max = 1 }\n", "generate.load_kw", "min (5.0) must be <= max (1.0)"),
    (HEADER + GENERATE + 'timings = "fast-7"\n', "generate.timings", "must be one of fast-5"),
    (SITE + HEADER + "[network]\ndrop = 1.5\n", "network.drop", "must be 0..1"),
    (SITE + HEADER + "[network]\ndelay_s = -0.1\n", "network.delay_s", "must be >= 0"),
    (SITE + HEADER + "[network]\nloss = 0.1\n", "network.loss", "unknown key"),
    (SITE + HEADER + '[[network.links]]\na = "sst1"\nb = "sst9"\ndrop = 0.5\n', "network.links[0].b", "no such node in the site; nodes: sst1, sst2, sst3"),
    (SITE + HEADER + '[[network.links]]\na = "sst1"\nb = "sst1"\ndrop = 0.5\n', "network.links[0].b", "two different nodes"),
    (SITE + HEADER + event(at_s=1.0, kind="explode", node="sst1"), "events[0].kind", "unknown event kind; kinds: load, generation"),
    (SITE + HEADER + event(at_s=1.0, node="sst1"), "events[0].kind", "required key missing"),
    (SITE + HEADER + event(at_s=61.0, kind="crash", node="sst1"), "events[0].at_s", "within the scenario (0..duration_s = 60.0)"),
    (SITE + HEADER + event(at_s=-1.0, kind="crash", node="sst1"), "events[0].at_s", "must be >= 0"),
    (SITE + HEADER + event(at_s=1.0, kind="crash", node="sst9"), "events[0].node", "no such node in the site; nodes: sst1"),
    (SITE + HEADER + event(at_s=1.0, kind="crash", node="sst1", kw=3.0), "events[0].kw", "unknown key"),
    (SITE + HEADER + event(at_s=1.0, kind="load", node="sst1"), "events[0]", "give kw or series"),
    (SITE + HEADER + event(at_s=1.0, kind="load", node="sst1", kw=1.0) + 'series = { csv = "x.csv" }\n', "events[0]", "give kw or series"),
    (SITE + HEADER + event(at_s=1.0, kind="generation", node="sst1") + 'series = { csv = "x.csv" }\n', "events[0]", "steps or ramp, from at_s"),
    (SITE + HEADER + event(at_s=1.0, kind="load", node="sst1") + "series = { steps = [[2, 1], [1, 2]] }\n", "events[0].series", "in time order"),
    (SITE + HEADER + event(at_s=1.0, kind="gateway_setpoint", node="sst1"), "events[0].kw", "required key missing"),
    (SITE + HEADER + event(at_s=1.0, kind="ev_arrivals", node="sst1", count=0, power_kw=7.0, energy_kwh=10.0), "events[0].count", "must be 1..1000000"),
    (SITE + HEADER + event(at_s=1.0, kind="fid_open", fid="sst1-load"), "events[0].fid", "device sst1-load is a Load, not a Fid"),
    (HEADER + GENERATE + event(at_s=1.0, kind="fid_close", fid="f09-n0001-fid"), "events[0].fid", "no such Fid in the site; Fids: f01-n0002-fid, f01-n0003-fid"),
    (SITE + HEADER + event(at_s=1.0, kind="partition"), "events[0]", "give groups (lists of node ids) or feeders"),
    (SITE + HEADER + event(at_s=1.0, kind="partition", groups=[["sst1", "sst2"], ["sst2"]]), "events[0].groups[1][0]", "node already in group 0"),
    (SITE + HEADER + event(at_s=1.0, kind="partition", groups=[["sst7"]]), "events[0].groups[0][0]", "no such node"),
    (HEADER + GENERATE + event(at_s=1.0, kind="partition", feeders=["f04"]), "events[0].feeders[0]", "no such feeder; feeders: f01, f02, f03"),
    (SITE + HEADER + event(at_s=1.0, kind="link_loss", a="sst1", b="sst2", drop=2.0), "events[0].drop", "must be 0..1"),
    (SITE + HEADER + event(at_s=1.0, kind="restart", node="sst1"), "events[0].node", "a restart needs an earlier crash"),
    (SITE + HEADER + event(at_s=9.0, kind="crash", node="sst1") + event(at_s=5.0, kind="crash", node="sst1"), "events[0].node", "down already (crashed at 5.0 s)"),
    (HEADER + GENERATE.replace("feeders = 3", "feeders = 3\nchargers = true") + event(at_s=1.0, kind="load", node="f01-n0001", kw=1.0) + event(at_s=1.0, kind="heal", node="x"), "events[1].node", "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "path", "rule"), BAD, ids=[f"{i}-{b[1]}" for i, b in enumerate(BAD)]
)
def test_a_bad_scenario_is_refused_naming_the_entry_and_rule(
    tmp_path: Path, text: str, path: str, rule: str
) -> None:
    scenario, issues = load_scenario(write(tmp_path, text))
    assert scenario is None
    assert [i for i in issues if i.path == path and rule in i.rule], [str(i) for i in issues]


def test_every_problem_is_listed_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    text = SITE + HEADER + "[network]\ndrop = 2.0\n" + event(at_s=1.0, kind="crash", node="nope")
    text += event(at_s=2.0, kind="fid_open", fid="gone")
    _, issues = load_scenario(write(tmp_path, text))
    # the shape fails first: references are checked once the document is valid
    assert [str(issue) for issue in issues] == [
        "scenario.toml:6: network.drop = 2.0: must be 0..1 (a fraction)"
    ]
    text = text.replace("drop = 2.0", "drop = 0.5")
    _, issues = load_scenario(write(tmp_path, text))
    assert [(i.line, i.path) for i in issues] == [(11, "events[0].node"), (16, "events[1].fid")]
    assert str(issues[0]).startswith("scenario.toml:11: events[0].node = 'nope': no such node")


def test_the_site_file_problems_are_the_scenarios(tmp_path: Path) -> None:
    site = THREE.read_text(encoding="utf-8").replace('profile = "fast-5"', 'profile = "fast-9"')
    (tmp_path / "site.toml").write_text(site, encoding="utf-8")
    _, issues = load_scenario(write(tmp_path, 'site = "site.toml"\n' + HEADER))
    assert [i.path for i in issues] == ["timings.profile"]
    assert issues[0].file.endswith("site.toml")


def test_a_site_scenario_loads_sorted_with_mode_and_network(tmp_path: Path) -> None:
    text = SITE + HEADER + 'mode = "freedm"\nseed = 4\n[network]\ndrop = 0.1\nreorder = 0.2\n'
    text += '[[network.links]]\na = "sst1"\nb = "sst3"\ndrop = 1.0\n'
    text += event(at_s=20.0, kind="restart", node="sst2") + event(
        at_s=10.0, kind="crash", node="sst2"
    )
    text += event(at_s=10.0, kind="load", node="sst1", kw=30.0)
    text += event(at_s=30.0, kind="partition", groups=[["sst1"]])
    scenario = load_ok(tmp_path, text)
    assert (scenario.name, scenario.seed, scenario.duration_s, scenario.sample_s) == (
        "s",
        4,
        60.0,
        0.5,
    )
    assert scenario.mode == "freedm"
    assert scenario.site.algorithm.mode == "freedm"
    assert (scenario.full_wire, scenario.tiers, scenario.generated) == (False, True, False)
    assert [(e.kind, e.at_s) for e in scenario.events] == [
        ("crash", 10.0), ("load", 10.0), ("restart", 20.0), ("partition", 30.0),
    ]  # fmt: skip
    assert isinstance(scenario.events[0], CrashEvent)
    load = scenario.events[1]
    assert isinstance(load, LoadEvent)
    assert load.profile().value == 30.0
    partition = scenario.events[3]
    assert isinstance(partition, PartitionEvent)
    assert partition.groups == [["sst1"], ["sst2", "sst3"]]
    faults = scenario.faults()
    assert (faults.drop, faults.reorder, faults.delay_s) == (0.1, 0.2, 0.0002)
    assert faults.link_drop == {frozenset({"sst1", "sst3"}): 1.0}
    assert scenario.faults() is not faults
    assert scenario.feeders == {"f01": ("sst1", "sst2", "sst3")}  # no topology: one feeder


def test_a_scenario_topology_splits_the_site_into_feeders(tmp_path: Path) -> None:
    site = THREE.read_text(encoding="utf-8")  # sst3's devices come last: add a Fid to them
    site += '\n[[nodes.devices]]\nid = "sst3-fid"\ntype = "Fid"\ntransport = "simulated"\n'
    site += 'host = "127.0.0.1"\nport = 15307\nprofile = "fid"\n'
    (tmp_path / "site.toml").write_text(site, encoding="utf-8")
    (tmp_path / "t.cfg").write_text(
        "edge A B\nedge B C\nfid B C sst3-fid\nsst A sst1\nsst B sst2\nsst C sst3\nsst D sst3x\n",
        encoding="utf-8",
    )
    text = 'site = "site.toml"\ntopology = "t.cfg"\n' + HEADER
    _, issues = load_scenario(write(tmp_path, text))
    assert [(i.path, i.value) for i in issues] == [("sst", "sst3x")]
    assert issues[0].file.endswith("t.cfg")
    assert issues[0].line == 7
    (tmp_path / "t.cfg").write_text("edge A B\nsst A sst1\nsst B sst2\nsst C sst3\n")
    scenario = load_ok(tmp_path, text + event(at_s=1.0, kind="fid_open", fid="sst3-fid"))
    assert scenario.feeders == {"f01": ("sst1", "sst2"), "f02": ("sst3",)}
    assert scenario.feeder_of["sst3"] == "f02"


def test_a_generated_scenario_loads(tmp_path: Path) -> None:
    text = (
        HEADER + 'seed = 9\nmode = "freedm"\n' + GENERATE + "gateway_kw = { min = -20, max = 10 }\n"
    )
    text += 'load_kw = 15\nstorage_kwh = 40.0\nbalance = "none"\n'
    text += event(at_s=3.0, kind="partition", feeders=["f02"])
    text += event(at_s=4.0, kind="fid_open", fid="f01-n0003-fid")
    text += event(
        at_s=5.0,
        kind="ev_arrivals",
        node="f03-n0012",
        count=20,
        power_kw=7.0,
        energy_kwh=10.0,
        over_s=2.0,
    )
    scenario = load_ok(tmp_path, text)
    assert scenario.generated
    assert scenario.mode == "freedm"
    assert {name: len(nodes) for name, nodes in scenario.feeders.items()} == {
        "f01": 4,
        "f02": 4,
        "f03": 4,
    }
    partition = scenario.events[0]
    assert isinstance(partition, PartitionEvent)
    assert partition.groups is not None
    assert [len(group) for group in partition.groups] == [4, 8]
    again = load_ok(tmp_path, text)
    assert again.site.document == scenario.site.document  # the seed decides the draws
    gateways = {d.sim.initial_kw for d in scenario.site.devices if isinstance(d.sim, SstSim)}
    assert len(gateways) > 1
    assert all(-20 <= g <= 10 for g in gateways)


# -- generated sites ---------------------------------------------------------------------------


def components(site_nodes: list[str], site: Site) -> list[set[str]]:
    topology = site.topology
    assert topology is not None
    fids = {fid: True for fid in topology.fid_node}
    found: list[set[str]] = []
    for node in site_nodes:
        if not any(node in c for c in found):
            found.append(reachable(topology, node, fids))
    return found


@pytest.mark.parametrize(("nodes", "feeders"), [(10, 3), (1000, 40)])
def test_a_generated_site_has_its_feeders_as_separate_components(nodes: int, feeders: int) -> None:
    site = generate_site(nodes, feeders, seed=5, gateway=Span(-20, 10), load=Span(5, 25))
    ids = [node.id for node in site.nodes]
    assert len(ids) == len(set(ids)) == nodes
    parts = components(ids, site)
    assert len(parts) == feeders
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    assert sum(map(len, parts)) == nodes
    for part in parts:  # a feeder's nodes share their prefix, and only they do
        assert len({node.split("-")[0] for node in part}) == 1
    assert generate_site(nodes, feeders, seed=5, gateway=Span(-20, 10), load=Span(5, 25)) == site
    other = generate_site(nodes, feeders, seed=6, gateway=Span(-20, 10), load=Span(5, 25))
    assert other.document != site.document


def test_a_written_site_loads_as_generated(tmp_path: Path) -> None:
    site = generate_site(10, 3, seed=2, generation=Span(0, 9), storage_kwh=30.0, chargers=True)
    path = write_site(site, tmp_path)
    loaded = load_site(path)
    assert loaded.document == site.document
    assert loaded.devices == site.devices
    assert site.topology is not None
    assert loaded.topology is not None
    assert loaded.topology.edges == site.topology.edges
    assert loaded.topology.vertex_of == site.topology.vertex_of
    assert loaded.topology.fid_node == site.topology.fid_node
    assert loaded.timings == site.timings


def test_a_generated_site_builds_a_plant_that_runs() -> None:
    site = generate_site(
        40, 4, seed=3, gateway=-5.0, generation=10.0, load=20.0, storage_kwh=50.0, balance="none"
    )
    plant = build_plant(site)
    for step in range(1, 11):
        plant.advance(step * 0.1)
    assert plant.read("f01-n0001-load", "drain") == 20.0
    assert plant.read("f04-n0040-gateway", "gateway") == pytest.approx(-5.0)
    assert plant.read("f02-n0012-fid", "state") == 1.0
    assert plant.read("f01-n0001-logger", "dgiEnable") == 1.0


def test_generating_a_thousand_nodes_takes_well_under_three_seconds() -> None:
    started = time.perf_counter()
    generate_site(1000, 40, seed=1, gateway=Span(-20, 10), load=Span(10, 30))
    assert time.perf_counter() - started < 3.0


@pytest.mark.parametrize(
    ("nodes", "feeders", "problem"), [(0, 1, "feeders"), (3, 4, "feeders"), (5001, 1, "5000")]
)
def test_impossible_sizes_are_refused(nodes: int, feeders: int, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        generate_site(nodes, feeders)


@pytest.mark.parametrize("balance", ["feeder", "site"])
def test_generated_gateways_sum_to_the_net_generations(balance: str) -> None:
    """A group only moves power between its members: "feeder" makes every feeder balanceable
    by itself, "site" only the whole site."""
    site = generate_site(
        60, 4, seed=5, gateway=Span(-30, 10), generation=Span(0, 20), load=Span(5, 30),
        balance=balance,  # type: ignore[arg-type]
    )  # fmt: skip
    totals: dict[str, float] = {}
    for device in site.devices:
        feeder = device.node_id.split("-")[0] if balance == "feeder" else "site"
        sim = device.sim
        if isinstance(sim, SstSim):
            totals[feeder] = totals.get(feeder, 0.0) + sim.initial_kw
        elif device.type == "Drer":
            totals[feeder] = totals.get(feeder, 0.0) - sim.generation.value  # type: ignore[union-attr]
        elif device.type == "Load":
            totals[feeder] = totals.get(feeder, 0.0) + sim.drain.value  # type: ignore[union-attr]
    assert all(abs(total) < 1e-3 for total in totals.values()), totals


def test_a_feeder_too_large_for_one_datagram_is_refused(tmp_path: Path) -> None:
    """A group's collected state travels in one datagram: about 90 members at most."""
    text = HEADER + "[generate]\nnodes = 200\nfeeders = 1\n"
    scenario, issues = load_scenario(write(tmp_path, text))
    assert scenario is None
    assert any(
        "feeder f01 has 200 nodes" in str(i) and "does not fit one datagram (8192)" in str(i)
        for i in issues
    ), issues
    load_ok(tmp_path, HEADER + "[generate]\nnodes = 200\nfeeders = 4\n")


def test_a_site_whose_group_cannot_fit_one_datagram_is_refused(tmp_path: Path) -> None:
    """The loader refuses it too (it would never balance: every receiver drops its state)."""
    path = write_site(generate_site(95, 1), tmp_path / "one")
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert any("95 nodes can form one group" in str(i) for i in caught.value.issues)
    assert load_site(write_site(generate_site(95, 2), tmp_path / "two")) is not None
    assert collected_bytes([f"n{i}" for i in range(1, 101)]) >= 8513  # measured on the wire
