"""A generated site as a HELICS federation: wall time per co-simulation step and in total,
against the same scenario in ``dgi sim``.

    .venv/bin/python bench/cosim.py [--nodes 1000] [--federates 10] [--seconds 10]
                                    [--step 0.01] [--core tcp] [--json]

The site is ``dgi sim``'s ``[generate]`` (feeders of 25 substations, each feeder balanceable
by itself, fast-30 timings): every federate generates the same site from the scenario file.
One ``helics_broker``, one ``dgi cosim-plant`` and ``--federates`` ``dgi cosim-node --slice
I/N`` processes on 127.0.0.1; the figures are the plant federate's (it steps with everyone:
a step ends when every federate has asked for the next one). The nodes judged balanced from
the plant's record (|gateway − net generation| within the band), Σ setpoint change; then
``dgi sim`` on the same scenario (its plain channel, and ``--full-wire`` as the federation
seals every datagram): wall s per virtual s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}:{os.environ['PATH']}"}

SCENARIO = """
[scenario]
name = "cosim-{nodes}"
duration_s = {seconds}
seed = 7
sample_s = 1.0

[generate]
nodes = {nodes}
feeders = {feeders}
gateway_kw = {{ min = -40.0, max = 20.0 }}
generation_kw = {{ min = 0.0, max = 30.0 }}
load_kw = {{ min = 5.0, max = 35.0 }}
timings = "fast-30"
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dgi(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "controller", *args], stdout=out,
                                stderr=subprocess.STDOUT, env=ENV, cwd=ROOT)  # fmt: skip


def federation(scenario: Path, work: Path, args: argparse.Namespace) -> dict[str, object]:
    port = free_port()
    broker = subprocess.Popen(
        [str(BIN / "helics_broker"), "-t", args.core, "-f", str(args.federates + 1),
         "--local_interface=127.0.0.1", f"--port={port}", "--loglevel=warning"],
        stdout=(work / "broker.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    common = ["--config", str(scenario), "--broker", f"127.0.0.1:{port}", "--core", args.core,
              "--until", str(args.seconds), "--step", str(args.step),
              "--timeout", "60"]  # fmt: skip
    began = time.perf_counter()
    processes = {"broker": broker}
    processes["plant"] = dgi("cosim-plant", *common, "--record", str(work / "plant.json"),
                             log=work / "plant.log")  # fmt: skip
    for i in range(1, args.federates + 1):
        processes[f"nodes{i}"] = dgi("cosim-node", *common, "--slice", f"{i}/{args.federates}",
                                     "--name", f"nodes{i}", log=work / f"nodes{i}.log")  # fmt: skip
    codes: dict[str, int | None] = {}
    try:
        for name, process in processes.items():
            codes[name] = process.wait(timeout=args.timeout)
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    total = time.perf_counter() - began
    if any(code != 0 for code in codes.values()):
        raise SystemExit(f"exit codes {codes}; logs in {work}")
    plant = json.loads((work / "plant.json").read_text())
    summary = plant["summary"]
    final, initial = plant["final"], plant["initial"]
    off = [abs(v["gateway"] - v["net_generation"]) for v in final.values()]
    change = sum(final[n]["setpoint"] - initial[n]["setpoint"] for n in final)
    node_walls = [
        json.loads((work / f"nodes{i}.log").read_text().strip().splitlines()[-1])["wall_s"]
        for i in range(1, args.federates + 1)
    ]
    return {
        "steps": summary["steps"],
        "step_median_ms": 1000 * summary["step_median_s"],
        "step_p95_ms": 1000 * summary["step_p95_s"],
        "federation_wall_s": total,
        "plant_loop_wall_s": summary["wall_s"],
        "node_federate_wall_s_median": statistics.median(node_walls),
        "wall_per_virtual_s": total / args.seconds,
        "balanced_nodes": sum(1 for d in off if d <= 0.5),
        "nodes": len(final),
        "max_imbalance_kw": max(off),
        "setpoint_sum_change_kw": change,
        "setpoints_applied": summary["setpoints_applied"],
    }


def sim(scenario: Path, work: Path, full_wire: bool) -> float:
    out = work / ("sim-full" if full_wire else "sim")
    command = [sys.executable, "-m", "controller", "sim", str(scenario), "--out", str(out)]
    subprocess.run(command + (["--full-wire"] if full_wire else []), env=ENV, cwd=ROOT,
                   capture_output=True, check=False)  # fmt: skip
    return float(json.loads((out / "summary.json").read_text())["wall_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--federates", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--step", type=float, default=0.01)
    parser.add_argument("--core", default="tcp")
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dgi-cosim-") as tmp:
        work = Path(tmp)
        scenario = work / "scenario.toml"
        feeders = max(1, args.nodes // 25)
        scenario.write_text(SCENARIO.format(nodes=args.nodes, feeders=feeders,
                                            seconds=args.seconds))  # fmt: skip
        result = federation(scenario, work, args)
        for full_wire in (False, True):
            wall = sim(scenario, work, full_wire)
            result["sim_full_wire" if full_wire else "sim_plain"] = {
                "wall_s": wall, "wall_per_virtual_s": wall / args.seconds
            }  # fmt: skip
    result = {"nodes": args.nodes, "federates": args.federates, "seconds": args.seconds,
              "step_s": args.step, "core": args.core, **result}  # fmt: skip
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:30} {value:.4g}" if isinstance(value, float) else f"{key:30} {value}")


if __name__ == "__main__":
    main()
