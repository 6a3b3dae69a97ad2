"""The scenario simulator at scale: wall seconds per virtual second, datagrams per node per
round and memory, at 10, 100, 300 and 1 000 substations.

    .venv/bin/python bench/sim_scale.py [--sizes 10,100,300,1000] [--seconds 20] [--json]

Each size is a generated site (``dgi sim``'s ``[generate]``: 25 substations per feeder, each
feeder balanceable by itself, FREEDM's fast-30 timings) run by the engine of ``dgi sim`` in
its own process (so its memory is its own: the peak resident set, ``ru_maxrss``), on the
plain channel, for ``--seconds`` of virtual time. Targets: 1 000 nodes run faster than real
time (<= 1 wall second per virtual second) and converge; the cost per node flat from 100 to
1 000 (wall per node per virtual second within 1.5x, datagrams per node per round within
1.5x).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCENARIO = """
[scenario]
name = "scale-{nodes}"
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
PER_FEEDER = 25


def one(nodes: int, seconds: float) -> dict[str, float | int | bool | None]:
    """Run one size here; the figures as a dict."""
    from controller.sim.engine import Engine
    from controller.sim.scenario import load_scenario

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.toml"
        feeders = max(1, nodes // PER_FEEDER)
        path.write_text(SCENARIO.format(nodes=nodes, feeders=feeders, seconds=seconds))
        scenario, issues = load_scenario(path)
        if scenario is None or issues:
            raise SystemExit("\n".join(str(issue) for issue in issues))
    engine = Engine(scenario, lambda sample: None)
    summary = engine.run()
    rounds = seconds / engine.round_s
    return {
        "nodes": nodes,
        "feeders": summary.feeders,
        "wall_per_virtual_s": summary.wall_s / seconds,
        "wall_per_node_ms": 1000 * summary.wall_s / seconds / nodes,
        "datagrams_per_node_round": summary.messages / nodes / rounds,
        "converged": summary.converged,
        "convergence_s": summary.convergence_s,
        "conservation": summary.invariant_checks.get("conservation", False),
        "memory_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure(nodes: int, seconds: float) -> dict[str, float | int | bool | None]:
    """One size in a process of its own."""
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(nodes), "--seconds", str(seconds)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )  # fmt: skip
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def verdict(ok: bool) -> str:
    return "pass" if ok else "SHORT"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,300,1000")
    parser.add_argument("--seconds", type=float, default=20.0, help="virtual seconds per size")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds)))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    rows = [measure(n, args.seconds) for n in sizes]
    if args.json:
        print(json.dumps({"seconds": args.seconds, "sizes": rows}, indent=2))
        return
    print(f"dgi sim at scale: {args.seconds:g} virtual s per size, 25 substations per feeder")
    print(f"{'nodes':>6} {'feeders':>7} {'wall/virtual s':>14} {'ms/node':>8} "
          f"{'datagrams/node/round':>21} {'converged':>10} {'memory MB':>10}")  # fmt: skip
    for r in rows:
        conv = f"{r['convergence_s']:.1f} s" if r["converged"] else "no"
        print(f"{r['nodes']:>6} {r['feeders']:>7} {r['wall_per_virtual_s']:>14.3f} "
              f"{r['wall_per_node_ms']:>8.3f} {r['datagrams_per_node_round']:>21.2f} "
              f"{conv:>10} {r['memory_mb']:>10.0f}")  # fmt: skip
    by = {r["nodes"]: r for r in rows}
    if 1000 in by:
        big = by[1000]
        fast = float(big["wall_per_virtual_s"]) <= 1.0  # type: ignore[arg-type]
        print(f"1000 nodes faster than real time: {big['wall_per_virtual_s']:.3f} "
              f"wall s per virtual s (target <= 1)  {verdict(fast)}")  # fmt: skip
        print(f"1000 nodes converge: {verdict(bool(big['converged']))}")
    if 100 in by and 1000 in by:
        pairs = (("wall_per_node_ms", "wall per node"),
                 ("datagrams_per_node_round", "datagrams per node per round"))  # fmt: skip
        for key, label in pairs:
            ratio = float(by[1000][key]) / float(by[100][key])  # type: ignore[arg-type]
            print(f"{label}, 1000 vs 100: x{ratio:.2f} (target <= 1.5)  {verdict(ratio <= 1.5)}")


if __name__ == "__main__":
    main()
