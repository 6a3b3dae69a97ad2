"""EV charging through one entry node, and what it does to the control loop.

    .venv/bin/python bench/ev_charging.py [--rushes 5] [--rates 500,1000,2000] [--seconds 5]
                                       [--quiet 10] [--json]

The simulator and three ``dgi run --trace`` processes on loopback (three-substations, fast-5
timings, group management), each with room for every session the run books. First the nodes
run alone for ``--quiet`` seconds; then ``dgi loadtest`` (its own process, nice 10) releases
``--rushes`` rushes of 500 requests through sst1, one every 3 s; then a sustained load at each
of ``--rates`` for ``--seconds``. Prints, per rush and rate: answered, booked, failures,
latency p50/p99, throughput, per-substation counts and the largest max − min of active
sessions at any instant; and the LB round p50/p99 of the entry node unloaded and during the
rushes. Targets: rush p99 ≤ 100 ms, ≥ 2000 requests/s sustained, max − min ≤ 1, the LB round
p99 within +20 %.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

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
NODES = ("sst1", "sst2", "sst3")


def room_for_every_session(text: str) -> str:
    return text.replace("capacity_kw = 60.0", "capacity_kw = 60.0\nev_capacity_kw = 1e9")


def loadtest(url: str, *args: str) -> dict[str, Any]:
    """``dgi loadtest`` at lower CPU priority, as ``bench/api_load.py`` runs wrk: the clients
    stand for cars' apps and a booking service on other machines."""
    out = subprocess.run(
        ["nice", "-n", "10", *DGI, "loadtest", "--url", url, "--json",
         "--substations", ",".join(NODES), *args],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )  # fmt: skip
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def line(label: str, f: dict[str, Any]) -> str:
    lat = f["latency_ms"]
    per = " ".join(f"{n} {f['per_substation'].get(n, 0)}" for n in NODES)
    return (
        f"  {label:<18} answered {f['answered']:>5}/{f['requests']:<5} booked {f['booked']:>5} "
        f"failed {f['failed']:>3} · p50 {lat['p50']:7.1f} p99 {lat['p99']:7.1f} ms · "
        f"{f['answered_per_s']:6.0f}/s · {per} · max−min {f['max_spread']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quiet", type=float, default=10.0)
    parser.add_argument("--rushes", type=int, default=5)
    parser.add_argument("--rates", default="500,1000,2000")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site, api = site_copy(
            Path(tmp),
            lambda t: t.replace("capacity_kw = 60.0", "capacity_kw = 60.0\nev_capacity_kw = 1e9"),
        )
        endpoints = Path(tmp) / "endpoints.json"
        procs = [spawn([*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)])]
        rushes: list[dict[str, Any]] = []
        sustained: list[tuple[float, dict[str, Any]]] = []
        try:
            wait_for(endpoints, procs[0])
            rewrite_ports(site, endpoints)
            for node in NODES:
                trace = Path(tmp) / f"{node}.trace"
                procs.append(spawn([*DGI, "run", "--config", str(site), "--node", node,
                                    "--trace", str(trace)]))  # fmt: skip
            wait_ready(api)
            time.sleep(3.0)  # the group forms
            quiet = (time.time(), time.time() + args.quiet)
            time.sleep(args.quiet)
            loaded = []
            for _ in range(args.rushes):
                started = time.time()
                rushes.append(loadtest(f"http://{api}", "--mode", "rush", "--requests", "500",
                                       "--duration-s", "2"))  # fmt: skip
                loaded.append((started, time.time()))
                time.sleep(3.0)
            for rate in (float(r) for r in args.rates.split(",")):
                sustained.append((rate, loadtest(
                    f"http://{api}", "--mode", "sustained", "--rate", f"{rate:g}",
                    "--duration", f"{args.seconds:g}", "--duration-s", "2",
                )))  # fmt: skip
                time.sleep(3.0)
            time.sleep(1.0)  # let the trace reach the file
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
        trace = Path(tmp) / "sst1.trace"
        unloaded = rounds_between(trace, [quiet])
        during = rounds_between(trace, loaded)
    p99s = sorted(f["latency_ms"]["p99"] for f in rushes)
    best = max((f["answered_per_s"] for _, f in sustained if f["failed"] == 0), default=0.0)
    if args.json:
        unloaded_p99, during_p99 = pct(unloaded, 0.99) * 1000, pct(during, 0.99) * 1000
        print(json.dumps({
            "rushes": len(rushes),
            "rush_p99_ms": p99s[len(p99s) // 2],
            "rush_p99s_ms": p99s,
            "rush_booked_share": sum(f["booked"] for f in rushes)
            / max(1, sum(f["requests"] for f in rushes)),
            "rush_max_spread": max(f["max_spread"] for f in rushes),
            "sustained": [{"rate": rate, "answered_per_s": f["answered_per_s"],
                           "failed": f["failed"], "p99_ms": f["latency_ms"]["p99"]}
                          for rate, f in sustained],
            "sustained_best_per_s": best,
            "round_p99_unloaded_ms": unloaded_p99,
            "round_p99_during_ms": during_p99,
            "round_p99_change_pct": (during_p99 / unloaded_p99 - 1) * 100,
        }, indent=2))  # fmt: skip
        return
    print("EV charging through sst1 of three dgi run processes (three-substations, fast-5)")
    for i, figures in enumerate(rushes, 1):
        print(line(f"rush {i} of 500", figures))
    print(f"  rush p99, median of {len(rushes)}: {p99s[len(p99s) // 2]:.1f} ms (target ≤ 100 ms)")
    for rate, figures in sustained:
        print(line(f"sustained {rate:g}/s", figures))
    print(f"  sustained without failures: up to {best:.0f} answers/s (target ≥ 2000)")
    print("LB round of the entry node (device reads, decision, sends)")
    report_rounds(unloaded, during, "during the rushes", width=30)


if __name__ == "__main__":
    main()
