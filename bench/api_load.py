"""Status API under load, and what the load does to the control loop.

    .venv/bin/python bench/api_load.py [--seconds 20] [--clients 50] [--json]

The simulator and one node (``dgi run --trace``: sst1 of three-substations, alone; its API in
its own process at lower CPU priority) on loopback. First the node runs alone for
``--seconds``; then ``wrk`` (Debian package) keeps ``--clients`` connections busy on
``/api/v1/status`` for as long, at lower CPU priority too (the clients stand for browsers and
scripts on other machines). Prints the API's requests/s and latency percentiles, and the LB
round p50/p99 without and with the load.
Target: round p99 under load within 20 % of the unloaded value.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from lb_round import (  # noqa: E402
    pct,
    report_rounds,
    rewrite_ports,
    rounds_between,
    site_copy,
    spawn,
    wait_for,
    wait_ready,
)

DGI = [sys.executable, "-m", "controller"]


def run_wrk(url: str, clients: int, seconds: float) -> dict[str, float]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    out = subprocess.run(
        ["nice", "-n", "10", wrk, "-t2", f"-c{clients}", f"-d{int(seconds)}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    figures = {"requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    units = {"us": 1e-3, "ms": 1.0, "s": 1000.0}
    for label in ("50", "90", "99"):
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        figures[f"latency_p{label}_ms"] = float(value) * units[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # sst1 alone: a node of a larger site that is in no group with the others is not
        # ready (/readyz), and the load is on one node's API
        site, api = site_copy(Path(tmp), lambda t: t.split('\n[[nodes]]\nid = "sst2"')[0])
        endpoints, trace = Path(tmp) / "endpoints.json", Path(tmp) / "sst1.trace"
        procs = [spawn([*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)])]
        try:
            wait_for(endpoints, procs[0])
            rewrite_ports(site, endpoints)
            procs.append(
                spawn([*DGI, "run", "--config", str(site), "--node", "sst1", "--trace", str(trace)])
            )
            wait_ready(api)
            quiet_start = time.time()
            time.sleep(args.seconds)
            quiet_end = load_start = time.time()
            load = run_wrk(f"http://{api}/api/v1/status", args.clients, args.seconds)
            load_end = time.time()
            time.sleep(1.0)  # let the trace reach the file
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
        quiet = rounds_between(trace, [(quiet_start, quiet_end)])
        loaded = rounds_between(trace, [(load_start, load_end)])
    if args.json:
        print(json.dumps(figures(args, load, quiet, loaded), indent=2))
        return
    report(args, load, quiet, loaded)


def figures(
    args: argparse.Namespace, load: dict[str, float], quiet: list[float], loaded: list[float]
) -> dict[str, float]:
    unloaded_p99, loaded_p99 = pct(quiet, 0.99) * 1000, pct(loaded, 0.99) * 1000
    return {
        "clients": args.clients,
        "seconds": args.seconds,
        **load,
        "round_p50_unloaded_ms": pct(quiet, 0.5) * 1000,
        "round_p99_unloaded_ms": unloaded_p99,
        "round_p50_loaded_ms": pct(loaded, 0.5) * 1000,
        "round_p99_loaded_ms": loaded_p99,
        "round_p99_change_pct": (loaded_p99 / unloaded_p99 - 1) * 100,
        "rounds_unloaded": len(quiet),
        "rounds_loaded": len(loaded),
    }


def report(
    args: argparse.Namespace, load: dict[str, float], quiet: list[float], loaded: list[float]
) -> None:
    ms = {key: value for key, value in load.items() if key.endswith("_ms")}
    print(f"status API, {args.clients} concurrent clients for {args.seconds:g} s (wrk, nice 10)")
    print(f"  requests/s                 {load['requests_per_s']:.0f}")
    latency = " / ".join(f"{ms[f'latency_p{q}_ms']:.2f}" for q in ("50", "90", "99"))
    print(f"  latency p50 / p90 / p99    {latency} ms")
    print(f"  non-2xx answers            {load['non_2xx']:.0f}")
    print("LB round of the node (device reads, decision, sends)")
    report_rounds(quiet, loaded, "under load")


if __name__ == "__main__":
    main()
