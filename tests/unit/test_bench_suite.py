"""The benchmark suite's pure part (``bench/suite_table.py``): targets judged, each
benchmark's JSON read into figures, the table with its failed rows; and that the suite
(``bench/suite.py``) names every benchmark in bench/."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "bench"))

import suite
import suite_table as st


def test_the_suite_runs_every_benchmark_in_bench_and_reads_each() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py")} - {"suite", "suite_table"}
    assert {b.name for b in suite.SUITE} == scripts
    assert scripts <= {b.name for b in suite.KNOWN} == set(st.EXTRACT)


def test_clock_skew_tolerated_is_the_largest_offset_up_to_which_all_converged() -> None:
    rows = [
        {"offset_ms": o, "converged": o < 400, "setpoint_sum_change": 0.0}
        for o in (0.0, 100.0, -100.0, 400.0, -400.0)
    ]
    tolerated, change = st.clock_skew(rows)
    assert tolerated.value == 100.0
    assert "±400 ms" in tolerated.peer
    assert change.verdict == "pass"


@pytest.mark.parametrize(
    ("text", "value", "verdict"),
    [
        ("<= 2", 1.5, "pass"),
        ("<= 2", 2.0, "pass"),
        ("<= 2", 2.01, "short"),
        (">= 2000", 1630.0, "short"),
        ("< 150", 149.9, "pass"),
        ("== 1", 1.0, "pass"),
        ("== 0", 3.0, "short"),
        ("== yes", "yes", "pass"),
        ("== yes", "no", "short"),
        ("<= 1", None, "n/a"),
    ],
)
def test_a_figure_is_judged_against_its_target(text: str, value: float | str | None,
                                               verdict: str) -> None:  # fmt: skip
    assert st.Figure("f", value, "", st.Target.parse(text)).verdict == verdict


def test_a_figure_without_target_is_a_dash_and_bools_read_as_yes_no() -> None:
    assert st.figure("f", 3).verdict == "—"
    assert st.figure("f", True, target="== yes").value == "yes"
    assert st.figure("f", 2).value == 2.0


@pytest.mark.parametrize("text", ["2", "<= ", "=> 2", "<= fast"])
def test_a_malformed_target_is_refused_naming_it(text: str) -> None:
    with pytest.raises(ValueError, match="target"):
        st.Target.parse(text)


def test_the_last_json_document_is_found_after_human_lines() -> None:
    printed = 'progress 1\n{"a": 1}\nmore\n{\n  "b": [1,\n    2]\n}\n'
    assert st.last_json(printed) == {"b": [1, 2]}
    assert st.last_json('[{"x": 1}]') == [{"x": 1}]
    with pytest.raises(ValueError, match="no JSON"):
        st.last_json("dgi: the simulator did not start\n")
    with pytest.raises(ValueError, match="no output"):
        st.last_json("  \n")


DEVICE_IO = {"p50_ms": 0.9, "p99_ms": 2.4, "requests_per_device_per_round": 1.0, "errors": 0}


def test_device_io_figures_and_their_targets() -> None:
    figures = {f.name: f for f in st.figures_of("device_io", json.dumps(DEVICE_IO))}
    assert figures["round p99 (6 devices)"].verdict == "short"
    assert figures["round p50 (6 devices)"].verdict == "—"
    assert figures["requests per device per round"].verdict == "pass"


def test_both_modes_of_lb_round_are_rows_with_the_original_as_peer() -> None:
    mode = {"migration_p50_ms": 3.0, "migration_p99_ms": 5.0, "round_p99_ms": 8.0,
            "round_with_migration_p99_ms": 11.0, "converged_at_s": 0.6,
            "final_spread_kw": 0.01}  # fmt: skip
    figures = st.lb_round({"adaptive": mode, "freedm": {**mode, "migration_p50_ms": 45.0}})
    names = [f.name for f in figures]
    assert any(n.startswith("adaptive:") for n in names)
    assert any(n.startswith("freedm:") for n in names)
    by = {f.name: f for f in figures}
    assert by["adaptive: migration latency p50"].verdict == "pass"
    assert "141 ms" in by["adaptive: migration latency p50"].peer
    assert by["freedm: migration latency p50"].verdict == "—"  # no target in FREEDM mode
    assert by["adaptive: LB round p99, with migration"].verdict == "short"


def test_sim_scale_ratios_from_100_to_1000_nodes() -> None:
    sizes = [
        {"nodes": 100, "wall_per_virtual_s": 0.12, "wall_per_node_ms": 1.2,
         "datagrams_per_node_round": 7.9, "converged": True, "memory_mb": 50},
        {"nodes": 1000, "wall_per_virtual_s": 1.75, "wall_per_node_ms": 1.75,
         "datagrams_per_node_round": 8.35, "converged": True, "memory_mb": 164},
    ]  # fmt: skip
    by = {f.name: f for f in st.sim_scale({"seconds": 16, "sizes": sizes})}
    assert by["dgi sim, 1000 nodes: wall s per virtual s"].verdict == "short"
    assert by["dgi sim, 1000 nodes: converged"].verdict == "pass"
    ratio = by["dgi sim, wall per node: 1000 vs 100"]
    assert ratio.value == pytest.approx(1.75 / 1.2)
    assert ratio.verdict == "pass"


def test_cosim_puts_dgi_sim_beside_helics() -> None:
    d = {"nodes": 100, "federates": 4, "step_median_ms": 14.7, "step_p95_ms": 30.0,
         "wall_per_virtual_s": 2.2, "balanced_nodes": 100, "setpoint_sum_change_kw": 0.0,
         "sim_plain": {"wall_per_virtual_s": 0.12}, "sim_full_wire": {"wall_per_virtual_s": 0.2}}  # fmt: skip
    by = {f.name: f for f in st.cosim(d)}
    wall = by["HELICS, 100 nodes in 4 federates: wall s per virtual s"]
    assert "dgi sim 0.12 plain / 0.20 full wire" in wall.peer
    assert by["HELICS: nodes balanced"].verdict == "pass"


def test_a_benchmark_whose_output_lacks_a_figure_raises_for_the_runner() -> None:
    with pytest.raises(KeyError):
        st.figures_of("device_io", json.dumps({"p50_ms": 1.0}))


def outcomes() -> list[st.Outcome]:
    ok = st.Outcome("device_io", ["bench/device_io.py"], 3.0, (0.5, 0.4, 0.3),
                    st.device_io(DEVICE_IO))  # fmt: skip
    failed = st.Outcome("api_load", ["bench/api_load.py"], 1.0, (1.2, 1.0, 0.9),
                        error="exit 1: wrk is not installed | apt-get install wrk")  # fmt: skip
    return [ok, failed]


def test_the_table_has_a_row_per_figure_and_a_failed_row_per_failed_benchmark() -> None:
    text = st.table(outcomes())
    lines = text.splitlines()
    assert lines[0].startswith("| benchmark | figure | value | unit | target | result |")
    assert len(lines) == 2 + len(st.device_io(DEVICE_IO)) + 1
    assert "| **short** |" in text
    failed = lines[-1]
    assert "**failed**" in failed
    assert "wrk is not installed \\| apt-get" in failed  # a pipe in the error is escaped
    assert failed.endswith("| 1.20 |")  # the load average when it started


def test_tally_and_json_document() -> None:
    counts = st.tally(outcomes())
    assert counts == {"pass": 2, "short": 1, "—": 1, "n/a": 0, "failed": 1}
    document = st.as_json(outcomes(), {"cpu": "x"})
    assert document["benchmarks"][1]["error"].startswith("exit 1")
    assert document["benchmarks"][0]["figures"][1]["target"] == "<= 2"
    json.dumps(document)


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), ("yes", "yes"), (0.0, "0"), (0.004, "0.004"), (1.234, "1.23"),
     (52.06, "52.1"), (1630.4, "1 630"), (640984.0, "640 984")],
)  # fmt: skip
def test_values_are_shown_with_sensible_digits(value: float | str | None, shown: str) -> None:
    assert st.show(value) == shown


def test_the_machine_header_names_cpu_cores_ram_python_and_load() -> None:
    info = {"taken": "2026-12-02 02:30 UTC", "cpu": "Xeon", "cores": 2, "ram_gb": 7.8,
            "python": "3.11.2", "os": "Linux", "load_start": (1.0, 0.5, 0.2),
            "load_end": (2.0, 1.5, 1.0), "commit": "abc1234", "suite_s": 700.0, "quick": False}  # fmt: skip
    text = "\n".join(st.machine_lines(info))
    for part in ("Xeon, 2 cores", "RAM 7.8 GB", "Python 3.11.2", "1.00 0.50 0.20", "700 s"):
        assert part in text


def logged(tmp_path: Path, name: str, out: str, err: str, code: int | None) -> Path:
    meta = {"command": [f"bench/{name}.py", "--json"], "seconds": 2.0, "load": [0.7, 0.5, 0.4],
            "exit": code, "timeout_s": 120}  # fmt: skip
    (tmp_path / f"{name}.meta.json").write_text(json.dumps(meta))
    (tmp_path / f"{name}.out").write_text(out)
    (tmp_path / f"{name}.err").write_text(err)
    return tmp_path


def test_a_finished_run_gives_its_figures(tmp_path: Path) -> None:
    logs = logged(tmp_path, "device_io", json.dumps(DEVICE_IO), "", 0)
    outcome = suite.read_outcome("device_io", logs)
    assert not outcome.error
    assert outcome.load == (0.7, 0.5, 0.4)
    assert len(outcome.figures) == 4


@pytest.mark.parametrize(
    ("out", "err", "code", "error"),
    [
        ("", "Traceback ...\nSystemExit: wrk is not installed\n", 1,
         "exit 1: SystemExit: wrk is not installed"),
        ('{"p50_ms": 1.0}', "", 0, "exit 0: KeyError: 'p99_ms'"),
        ("", "", None, "timed out after 120 s"),
        (json.dumps(DEVICE_IO), "a federate failed\n", 2, "exit 2: a federate failed"),
    ],
    ids=["crashed", "figure-missing", "timed-out", "figures-but-failed"],
)  # fmt: skip
def test_a_failed_run_is_one_failed_row_with_its_error(
    tmp_path: Path, out: str, err: str, code: int | None, error: str
) -> None:
    outcome = suite.read_outcome("device_io", logged(tmp_path, "device_io", out, err, code))
    assert outcome.error.startswith(error)
    assert "**failed**" in st.table([outcome])
