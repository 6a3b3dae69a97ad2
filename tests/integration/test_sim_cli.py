"""``dgi sim`` as a user runs it: the shipped scenarios, as processes, judged on what they
write — the series read back (what the devices held, per node), the summary, the charts — and
a run repeated with the same seed, and on the full wire, giving the same CSV to the byte."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DGI = [sys.executable, "-m", "controller"]
SCENARIOS = ROOT / "scenarios"
PNG = b"\x89PNG\r\n\x1a\n"


def sim(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DGI, "sim", *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT
    )


def summary(directory: Path) -> dict[str, object]:
    return json.loads((directory / "summary.json").read_text())  # type: ignore[no-any-return]


def last_rows(directory: Path) -> dict[str, dict[str, str]]:
    """Each node's row at the last instant of the series."""
    rows = list(csv.DictReader((directory / "series.csv").open()))
    end = rows[-1]["t"]
    return {r["node"]: r for r in rows if r["t"] == end}


def partitions(directory: Path) -> list[frozenset[frozenset[str]]]:
    """The groups over time (nodes that run, grouped by leader), consecutive repeats removed."""
    found: list[frozenset[frozenset[str]]] = []
    by_t: dict[str, dict[str, str]] = {}
    for row in csv.DictReader((directory / "series.csv").open()):
        if row["up"] == "1":
            by_t.setdefault(row["t"], {})[row["node"]] = row["leader"]
    for leaders in by_t.values():
        cells: dict[str, set[str]] = {}
        for node, leader in leaders.items():
            cells.setdefault(leader, set()).add(node)
        now = frozenset(frozenset(c) for c in cells.values())
        if not found or found[-1] != now:
            found.append(now)
    return found


def groups(*cells: set[str]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(c) for c in cells)


def test_the_2012_hil_script(tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = sim(str(SCENARIOS / "freedm-hil-2012.toml"), "--plot", str(out))
    assert done.returncode == 0, done.stderr + done.stdout
    for name in ("series.csv", "events.csv", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    for chart in ("gateway.png", "k.png", "migrations.png", "groups.png"):
        assert (out / chart).read_bytes()[:8] == PNG, chart
    result = summary(out)
    assert result["converged"] is True
    assert result["invariant_checks"] == {"conservation": True, "beliefs_match_devices": True}
    assert result["setpoint_sum_change"] == 0.0
    assert result["migrations"] >= 3  # the start, the roles swapped, the rejoin
    # the devices at the end: every substation's gateway is its net generation
    final = last_rows(out)
    assert {n: float(r["gateway"]) for n, r in final.items()} == pytest.approx(
        {"sst1": -10.0, "sst2": 5.0, "sst3": -25.0}, abs=0.05
    )
    # the groups the script goes through: all three; sst2 gone and back; sst1 gone (sst2
    # leads) and back; sst3 isolated, then rejoined
    seen = partitions(out)
    all3 = groups({"sst1", "sst2", "sst3"})
    expected = [
        all3,
        groups({"sst1", "sst3"}),
        all3,
        groups({"sst2", "sst3"}),
        all3,
        groups({"sst1", "sst2"}, {"sst3"}),
        all3,
    ]
    assert _subsequence(expected, seen), seen
    text = done.stdout
    assert "conservation held" in text
    assert "wrote" in text


def _subsequence(
    wanted: list[frozenset[frozenset[str]]], seen: list[frozenset[frozenset[str]]]
) -> bool:
    """``wanted`` appears in ``seen`` in order (transient groups while a node rejoins between)."""
    it = iter(seen)
    return all(any(w == s for s in it) for w in wanted)


def test_the_same_seed_gives_the_same_csv_and_the_full_wire_too(tmp_path: Path) -> None:
    scenario = str(SCENARIOS / "freedm-hil-2012.toml")
    runs = [tmp_path / "a", tmp_path / "b", tmp_path / "wire"]
    for directory, extra in zip(runs, ([], [], ["--full-wire"]), strict=True):
        done = sim(scenario, "--out", str(directory), *extra)
        assert done.returncode == 0, done.stderr
    first = (runs[0] / "series.csv").read_bytes()
    assert first == (runs[1] / "series.csv").read_bytes()
    assert first == (runs[2] / "series.csv").read_bytes()  # the plain channel changes nothing
    other = sim(scenario, "--out", str(tmp_path / "seed"), "--seed", "7", "--duration", "20")
    assert other.returncode == 0, other.stderr


def test_four_substations_converge(tmp_path: Path) -> None:
    done = sim(str(SCENARIOS / "four-substations.toml"), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = summary(tmp_path)
    assert result["converged"] is True
    assert result["setpoint_sum_change"] == 0.0
    assert result["convergence_s"] is not None
    assert result["convergence_s"] < 12.0
    assert result["final_spread"] <= 0.1


def test_a_feeder_of_30_with_ev_arrivals(tmp_path: Path) -> None:
    done = sim(str(SCENARIOS / "feeder-30-ev.toml"), "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    result = summary(tmp_path)
    assert result["nodes"] == 30
    assert result["converged"] is True
    assert result["charging"] == {"201": 100, "asked": 100}  # every request booked somewhere
    assert result["invariant_checks"] == {"conservation": True, "beliefs_match_devices": True}
    assert "charging requests 100: 201 100" in done.stdout


def test_1000_substations_on_40_feeders_shortened(tmp_path: Path) -> None:
    """Each feeder its own group, tier 2 between them: converges within 16 virtual s."""
    done = sim(str(SCENARIOS / "feeders-1000.toml"), "--out", str(tmp_path), "--duration", "16")
    assert done.returncode == 0, done.stderr + done.stdout
    result = summary(tmp_path)
    assert result["nodes"] == 1000
    assert result["feeders"] == 40
    assert result["converged"] is True
    assert result["setpoint_sum_change"] == 0.0
    assert result["messages_per_node_round"] < 15  # a feeder's worth, not the site's
    final = last_rows(tmp_path)
    assert len(final) == 1000
    assert all(abs(float(r["gateway"]) - float(r["net_generation"])) < 0.1 for r in final.values())


def test_a_bad_scenario_is_refused_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'site = "../nowhere.toml"\n[scenario]\nname = "bad"\nduration_s = -1\n'
        '[[events]]\nat_s = 1\nkind = "teleport"\n'
    )
    done = sim(str(bad), "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "duration_s" in done.stderr
    assert "teleport" in done.stderr
    assert "error(s); not run" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_mode_replaces_the_scenarios(tmp_path: Path) -> None:
    """``--mode freedm`` runs FREEDM's fixed 1 kW steps where the scenario leaves the site's
    adaptive mode: more migrations, later convergence; a word that is no mode is refused."""
    runs: dict[str, dict[str, float]] = {}
    for mode in ("freedm", "adaptive"):
        done = sim(str(SCENARIOS / "four-substations.toml"), "--mode", mode, "--duration", "5",
                   "--out", str(tmp_path / mode))  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        runs[mode] = json.loads((tmp_path / mode / "summary.json").read_text())
    assert runs["freedm"]["migrations"] > runs["adaptive"]["migrations"]
    assert runs["freedm"]["convergence_s"] > runs["adaptive"]["convergence_s"]
    refused = sim(str(SCENARIOS / "four-substations.toml"), "--mode", "fast")
    assert refused.returncode == 2
    assert "must be freedm or adaptive" in refused.stderr
