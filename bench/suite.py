"""The benchmark suite: every benchmark in bench/, one table (``make bench``).

    .venv/bin/python bench/suite.py [--quick] [--only NAME[,NAME]] [--list] [--out DIR]

Each benchmark runs as a process of its own (``bench/NAME.py ... --json``, the repository on
PYTHONPATH), one after the other, with shorter runs than its defaults so the whole suite
takes about 10–15 minutes on a 2-core machine (``--quick``: a few minutes, smaller still; the
parameters are in SUITE and printed with each row's command in the JSON). A benchmark that
fails, prints no figures or overruns its time limit is one row "failed" with its error; the
suite goes on. Its process group is ended on a time-out, so no node it started stays behind.

Prints the machine (CPU, cores, RAM, Python, load average) and the table — figure, value,
unit, target, pass/short ("—" where a figure has no target), the peer measured side by side
or its published figure, and the load average when the benchmark started — and writes it to
``bench/results/latest.md`` and ``latest.json`` (``quick.*`` with ``--quick``, ``partial.*``
with ``--only``); each benchmark's stdout, stderr and how it ran go to
``bench/results/logs/latest/`` (``quick/``, ``partial/``), from which ``--from-logs`` makes the
table again without running anything. The
figures and targets are read by ``bench/suite_table.py``. Exit status 1 when a benchmark
failed (a target short is not a failure of the suite).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from suite_table import (  # noqa: E402
    FOOTNOTE,
    Outcome,
    as_json,
    figures_of,
    machine_lines,
    table,
    tally,
)


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]  # the suite's parameters (shorter than the benchmark's defaults)
    quick: tuple[str, ...]  # with --quick
    timeout_s: float
    measures: str


KNOWN: tuple[Bench, ...] = (
    Bench("device_io", ("--rounds", "1000"), ("--rounds", "300"), 120,
          "one substation's six devices read concurrently over Modbus/TCP"),
    Bench("lb_round", ("--seconds", "15"), ("--seconds", "6"), 300,
          "migration latency, LB round, convergence — adaptive and freedm modes"),
    Bench("sc", ("--repeat", "30"), ("--repeat", "10"), 180,
          "state collection of 3/10/30 nodes, in memory and over UDP"),
    Bench("group", (), (), 300, "regroup after the leader is cut, datagrams per node"),
    Bench("timings", (), (), 120, "FREEDM's timing model fed with p and c measured here"),
    Bench("processes", ("--nodes", "10", "--seconds", "20"),
          ("--nodes", "5", "--seconds", "10"), 240, "N dgi run processes with fast-30"),
    Bench("memory", ("--minutes", "1.5", "--every", "10"), ("--minutes", "1.1", "--every", "10"),
          240, "three node processes' resident memory, loads stepping"),
    Bench("api_load", ("--seconds", "10"), ("--seconds", "5"), 180,
          "status API under 50 wrk clients, and the LB round meanwhile"),
    Bench("api_abuse", ("--slow", "50"), ("--mb", "20", "--slow", "20"), 180,
          "API process memory under big unauthenticated uploads and slow clients"),
    Bench("ev_charging",
          ("--quiet", "5", "--rushes", "3", "--rates", "1000,2000", "--seconds", "3"),
          ("--quiet", "3", "--rushes", "1", "--rates", "2000", "--seconds", "2"), 300,
          "EV rushes of 500 and sustained rates through one of three dgi run"),
    Bench("ev_predictive", (), ("--minutes", "35"), 120,
          "predictive vs instantaneous EV routing (virtual time)"),
    Bench("loadtest_client", ("--repeat", "3", "--rates", "2000,4000", "--duration", "2"),
          ("--repeat", "1", "--rates", "2000", "--duration", "1"), 120,
          "dgi loadtest's own client against a trivial server"),
    Bench("rtds", ("--seconds", "15", "--idle-s", "5"), ("--seconds", "5", "--idle-s", "3"), 180,
          "rtds cycle of three links against dgi simserver; idle server CPU"),
    Bench("sim_scale", ("--sizes", "100,1000", "--seconds", "16"),
          ("--sizes", "100,1000", "--seconds", "16"), 400,
          "dgi sim at 100 and 1 000 substations"),
    Bench("cosim", ("--nodes", "200", "--federates", "4", "--seconds", "20", "--timeout", "400"),
          ("--nodes", "50", "--federates", "2", "--seconds", "16", "--timeout", "200"), 500,
          "HELICS federation step and wall time; dgi sim on the same scenario"),
    Bench("mosaik_step", ("--seconds", "120"), ("--seconds", "30"), 300,
          "the mosaik example per 100 ms step, three variants"),
    Bench("powerflow", ("--ticks", "50"), ("--ticks", "20"), 180,
          "pandapower plant tick on CIGRE MV and mv_oberrhein"),
    Bench("clock_skew", ("--offsets", "25,100,400,1600"), ("--offsets", "100,400"), 300,
          "one node's clock off: convergence and Σ setpoint change (virtual time)"),
)  # fmt: skip
# a benchmark of another branch is listed before its script lands: run what is here
SUITE = tuple(b for b in KNOWN if (ROOT / "bench" / f"{b.name}.py").exists())
BY_NAME = {b.name: b for b in SUITE}
RESULTS = ROOT / "bench" / "results"


def machine() -> dict[str, object]:
    """What this machine is, for the table's header."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    ram_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            ram_kb = int(line.split()[1])
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count() or 0,
        "ram_gb": ram_kb / 1024 / 1024,
        "python": platform.python_version(),
        "os": platform.platform(),
        "commit": commit or "unknown",
    }


def run_one(bench: Bench, quick: bool, logs: Path) -> Outcome:
    """One benchmark in its own process group; its figures, or why there are none. Its
    stdout, stderr and how it ran (command, seconds, load, exit status) stay in ``logs``."""
    command = [sys.executable, str(ROOT / "bench" / f"{bench.name}.py"),
               *(bench.quick if quick else bench.args), "--json"]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}  # fmt: skip
    load = os.getloadavg()
    started = time.monotonic()
    with (
        (logs / f"{bench.name}.out").open("wb") as out,
        (logs / f"{bench.name}.err").open("wb") as err,
    ):
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            code: int | None = proc.wait(bench.timeout_s)
        except subprocess.TimeoutExpired:
            code = None
        stop_group(proc)  # on a time-out, and anything a finished benchmark left behind
    meta = {
        "command": ["bench/" + Path(command[1]).name, *command[2:]],
        "seconds": time.monotonic() - started,
        "load": load,
        "exit": code,
        "timeout_s": bench.timeout_s,
    }
    (logs / f"{bench.name}.meta.json").write_text(json.dumps(meta) + "\n")
    return read_outcome(bench.name, logs)


def read_outcome(name: str, logs: Path) -> Outcome:
    """A benchmark's outcome from what its run left in ``logs``."""
    meta = json.loads((logs / f"{name}.meta.json").read_text())
    load = meta["load"]
    outcome = Outcome(name, meta["command"], meta["seconds"], (load[0], load[1], load[2]))
    code = meta["exit"]
    err = logs / f"{name}.err"
    if code is None:
        outcome.error = f"timed out after {meta['timeout_s']:g} s (log: {err})"
        return outcome
    text = (logs / f"{name}.out").read_text(errors="replace")
    try:
        outcome.figures = figures_of(name, text)
    except (ValueError, KeyError, TypeError, IndexError, ZeroDivisionError) as error:
        last = last_line(err.read_text(errors="replace")) or f"{type(error).__name__}: {error}"
        outcome.error = f"exit {code}: {last}"
        return outcome
    if code != 0 and name != "mosaik_step":  # mosaik_step exits 1 when a variant is unbalanced
        outcome.error = f"exit {code}: {last_line(err.read_text(errors='replace'))}"
    return outcome


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the benchmark's process group (it is its session's leader), SIGKILL what is
    left after 10 s."""
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return  # nothing left in the group
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                proc.wait(0.2)
                os.killpg(proc.pid, 0)  # members left?
            except subprocess.TimeoutExpired:
                continue
            except ProcessLookupError:
                return
            time.sleep(0.2)


def run_all(chosen: list[Bench], quick: bool, logs: Path) -> tuple[dict[str, Any], list[Outcome]]:
    info: dict[str, Any] = {**machine(), "quick": quick, "load_start": os.getloadavg()}
    info["taken"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    began = time.monotonic()
    outcomes = []
    for i, bench in enumerate(chosen, 1):
        print(f"[{i}/{len(chosen)}] {bench.name}: {bench.measures} ...", file=sys.stderr,
              flush=True)  # fmt: skip
        outcome = run_one(bench, quick, logs)
        state = f"failed: {outcome.error}" if outcome.error else f"{len(outcome.figures)} figures"
        print(f"        {outcome.seconds:.0f} s, {state}", file=sys.stderr, flush=True)
        outcomes.append(outcome)
    info["load_end"] = os.getloadavg()
    info["suite_s"] = time.monotonic() - began
    (logs / "machine.json").write_text(json.dumps(info) + "\n")
    return info, outcomes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller runs: a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and stop")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the table is written")
    parser.add_argument(
        "--from-logs", action="store_true", help="no run: the table from the last run's logs"
    )
    args = parser.parse_args()
    if args.list:
        for b in SUITE:
            print(f"{b.name:<16} {b.measures}  [{' '.join(b.quick if args.quick else b.args)}]")
        return 0
    chosen = list(SUITE)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BY_NAME]
        if unknown:
            parser.error(f"--only: no benchmark {', '.join(unknown)} (one of {', '.join(BY_NAME)})")
        chosen = [BY_NAME[n] for n in names]
    stem = "partial" if args.only else "quick" if args.quick else "latest"
    logs = args.out / "logs" / stem
    logs.mkdir(parents=True, exist_ok=True)
    if args.from_logs:
        info = json.loads((logs / "machine.json").read_text())
        outcomes = [read_outcome(b.name, logs) for b in chosen]
    else:
        info, outcomes = run_all(chosen, args.quick, logs)
    header = "\n".join(machine_lines(info))
    counts = tally(outcomes)
    summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
    text = f"{header}\n\n{table(outcomes)}\n\n{summary}. {FOOTNOTE}\n"
    print(text)
    (args.out / f"{stem}.md").write_text(text, encoding="utf-8")
    document = as_json(outcomes, info)
    (args.out / f"{stem}.json").write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"written: {(args.out / f'{stem}.md')} and .json; logs in {logs}", file=sys.stderr)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
