"""The mosaik example's cost: wall milliseconds per 100 ms step, in one process and with the
nodes' simulator in processes of their own.

    .venv/bin/python bench/mosaik_step.py [--seconds 300] [--json]

Each variant of ``scenarios/mosaik/three_substations.py`` (mosaik-csv PV and load profiles,
the plant, the three nodes) runs in a process of its own, for ``--seconds`` of plant time:
``in-process`` (every simulator in the world's process), ``nodes-process`` (the NodesSim
started by mosaik in another), ``two-feeders`` (two NodesSims, each in its own). ``RSS MB``
is the world process's peak resident set (``ru_maxrss``), ``sim MB`` the largest simulator
process it started. sst1 must end balanced (the plant's |gateway - net generation| < 0.05
kW).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VARIANTS: dict[str, dict[str, Any]] = {
    "in-process": {},
    "nodes-process": {"nodes_process": True},
    "two-feeders": {"nodes_process": True, "groups": [["sst1", "sst2"], ["sst3"]]},
}


def one(variant: str, seconds: float) -> dict[str, Any]:
    """Run one variant here; the figures as a dict."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "three_substations", ROOT / "scenarios" / "mosaik" / "three_substations.py"
    )
    assert spec is not None
    assert spec.loader is not None
    scenario = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scenario)
    summary = scenario.run(seconds, **VARIANTS[variant])
    balanced = abs(summary["imbalance"]["sst1"]) < 0.05
    return {
        "variant": variant,
        "steps": summary["steps"],
        "wall_s": round(summary["wall_s"], 2),
        "ms_per_step": round(summary["wall_per_step_ms"], 2),
        "real_time_factor": round(seconds / summary["wall_s"], 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "sim_rss_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
        "migrations": summary["migrations"],
        "balanced": balanced,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.seconds)))
        return 0
    rows = []
    for variant in VARIANTS:
        command = [sys.executable, __file__, "--one", variant, "--seconds", str(args.seconds)]
        done = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"{'variant':<15}{'steps':>7}{'wall s':>8}{'ms/step':>8}{'x real':>8}"
              f"{'RSS MB':>8}{'sim MB':>8}")  # fmt: skip
        for row in rows:
            cells = (row["steps"], row["wall_s"], row["ms_per_step"], row["real_time_factor"],
                     row["max_rss_mb"], row["sim_rss_mb"])  # fmt: skip
            print(f"{row['variant']:<15}{cells[0]:>7}" + "".join(f"{c:>8}" for c in cells[1:]))
    return 0 if all(row["balanced"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
