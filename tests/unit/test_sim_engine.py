"""The scenario engine's events, each seen where it acts: the plant (what devices hold), the
network (what it dropped) and the groups the nodes form."""

from __future__ import annotations

from pathlib import Path

from controller.sim.engine import Engine
from controller.sim.record import NodeSample, Sample
from controller.sim.scenario import Scenario, load_scenario
from tests.conftest import EXAMPLES

RING = EXAMPLES / "switched-ring.toml"


def scenario(tmp_path: Path, events: str, *, network: str = "", duration: float = 30.0) -> Scenario:
    path = tmp_path / "s.toml"
    path.write_text(
        f'site = "{RING}"\n[scenario]\nname = "t"\nduration_s = {duration}\nseed = 3\n'
        f"sample_s = 0.5\n{network}\n{events}"
    )
    loaded, issues = load_scenario(path)
    assert issues == []
    assert loaded is not None
    return loaded


def run(s: Scenario) -> tuple[Engine, list[Sample]]:
    samples: list[Sample] = []
    engine = Engine(s, samples.append)
    engine.run()
    return engine, samples


def at(samples: list[Sample], t: float) -> dict[str, NodeSample]:
    sample = next(s for s in samples if s.t >= t)
    return {n.node: n for n in sample.nodes}


def leaders(samples: list[Sample], t: float) -> dict[str, str]:
    return {n: row.leader for n, row in at(samples, t).items()}


def test_a_generation_profile_is_followed_and_balanced(tmp_path: Path) -> None:
    events = (
        '[[events]]\nat_s = 10.0\nkind = "generation"\nnode = "sst2"\n'
        "series = { ramp = { start_s = 0.0, duration_s = 4.0, start = 15.0, end = 25.0 } }\n"
        '[[events]]\nat_s = 10.0\nkind = "load"\nnode = "sst1"\nkw = 30.0\n'
    )
    engine, samples = run(scenario(tmp_path, events))
    before, ramping = at(samples, 9.5)["sst2"], at(samples, 12.0)["sst2"]
    assert before.net_generation == -10.0  # 15 generated, 25 drawn
    assert -10.0 < ramping.net_generation < 0.0  # halfway up the ramp
    end = at(samples, 30.0)
    assert end["sst2"].net_generation == 0.0  # 25 generated
    assert end["sst1"].net_generation == -20.0  # its load stepped to 30
    assert all(abs(r.gateway - r.net_generation) < 0.1 for r in end.values())
    assert abs(engine.group.setpoint_sum_change()) < 1e-9


def test_a_partition_splits_the_group_and_heal_joins_it(tmp_path: Path) -> None:
    events = (
        '[[events]]\nat_s = 8.0\nkind = "partition"\ngroups = [["sst3"]]\n'
        '[[events]]\nat_s = 18.0\nkind = "heal"\n'
    )
    engine, samples = run(scenario(tmp_path, events))
    assert set(leaders(samples, 7.5).values()) == {"sst1"}
    split = leaders(samples, 16.0)
    assert split["sst3"] == "sst3"
    assert split["sst1"] == split["sst2"] == "sst1"
    assert set(leaders(samples, 29.0).values()) == {"sst1"}
    assert engine.group.network.stats["cut"] > 0
    kinds = [(e.kind, e.text) for e in engine.events if e.kind == "scenario"]
    assert kinds == [("scenario", "partition into 2 cells"), ("scenario", "partition healed")]


def test_a_lost_link_drops_and_restoring_it_stops(tmp_path: Path) -> None:
    events = (
        '[[events]]\nat_s = 5.0\nkind = "link_loss"\na = "sst1"\nb = "sst2"\ndrop = 1.0\n'
        '[[events]]\nat_s = 10.0\nkind = "link_loss"\na = "sst1"\nb = "sst2"\ndrop = 0.0\n'
    )
    s = scenario(tmp_path, events, duration=10.0)
    engine, _ = run(s)
    dropped = engine.group.network.stats["dropped"]
    assert dropped > 0
    longer = scenario(tmp_path, events, duration=20.0)
    engine2, _ = run(longer)
    assert engine2.group.network.stats["dropped"] == dropped  # none after it was restored


def test_a_lossy_network_still_conserves(tmp_path: Path) -> None:
    network = "[network]\ndrop = 0.2\nduplicate = 0.1\nreorder = 0.1\n"
    events = '[[events]]\nat_s = 5.0\nkind = "load"\nnode = "sst3"\nkw = 5.0\n' + (
        '[[events]]\nat_s = 5.0\nkind = "load"\nnode = "sst2"\nkw = 35.0\n'
    )
    engine, samples = run(scenario(tmp_path, events, network=network, duration=40.0))
    stats = engine.group.network.stats
    assert stats["dropped"] > 0
    assert stats["duplicated"] > 0
    assert abs(engine.group.setpoint_sum_change()) < 1e-9  # read from the plant
    end = at(samples, 40.0)
    assert all(abs(r.gateway - r.net_generation) < 0.2 for r in end.values())
