"""Node memory over time: three ``dgi run`` processes and the simulator, loads stepping.

    .venv/bin/python bench/memory.py [--minutes 10] [--mode adaptive] [--json]

Every second the benchmark steps one load through Modbus, so the nodes keep migrating; every
``--every`` seconds it samples each node's resident memory (VmRSS). Prints the samples and,
per node, the growth from the first sample after one minute to the last. Target: <= 100 MB
per node and flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from lb_round import free_port, rewrite_ports, spawn, wait_for  # noqa: E402

from config.loader import load_site  # noqa: E402
from device_drivers.modbus import LinkPool  # noqa: E402
from device_drivers.registry import Connections, build_driver  # noqa: E402

DGI = [sys.executable, "-m", "controller"]
NODES = ("sst1", "sst2", "sst3")


def rss_mb(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else float("nan")


def site_copy(directory: Path, mode: str) -> Path:
    text = (ROOT / "config/examples/three-substations.toml").read_text()
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", text)
    text = re.sub(r'"127\.0\.0\.1:\d+"', lambda _: f'"127.0.0.1:{free_port()}"', text)
    text = text.replace('mode = "adaptive"', f'mode = "{mode}"')
    path = directory / "site.toml"
    path.write_text(text)
    subprocess.run(
        [*DGI, "keygen", str(directory / "group.key")], check=True, capture_output=True, cwd=ROOT
    )
    return path


async def drive(
    site_path: Path,
    where: dict[str, tuple[str, int]],
    nodes: dict[str, int],
    minutes: float,
    every: float,
    quiet: bool = False,
) -> list[dict[str, float]]:
    site = load_site(site_path)
    pool = LinkPool()
    loads = {
        n: build_driver(site.device(f"{n}-load"), Connections(pool), address=where[f"{n}-load"])
        for n in NODES
    }
    rng = random.Random(1)
    samples = []
    start = time.monotonic()
    next_sample = start
    while time.monotonic() - start < minutes * 60:
        node = rng.choice(NODES)
        await loads[node].write("drain", round(rng.uniform(5.0, 30.0), 2))
        if time.monotonic() >= next_sample:
            samples.append(
                {
                    "t_s": round(time.monotonic() - start),
                    **{n: rss_mb(pid) for n, pid in nodes.items()},
                }
            )
            if not quiet:
                print(json.dumps(samples[-1]), flush=True)
            next_sample += every
        await asyncio.sleep(1.0)
    for load in loads.values():
        await load.close()
    pool.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--mode", default="adaptive", choices=["adaptive", "freedm"])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = site_copy(Path(tmp), args.mode)
        endpoints = Path(tmp) / "endpoints.json"
        procs = [spawn([*DGI, "simulate", "--config", str(site), "--endpoints", str(endpoints)])]
        try:
            wait_for(endpoints, procs[0])
            where = {r["device"]: (r["host"], r["port"]) for r in json.loads(endpoints.read_text())}
            rewrite_ports(site, endpoints)
            nodes = {}
            for node in NODES:
                proc = spawn([*DGI, "run", "--config", str(site), "--node", node])
                procs.append(proc)
                nodes[node] = proc.pid
            samples = asyncio.run(drive(site, where, nodes, args.minutes, args.every, args.json))
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
    settled = [s for s in samples if s["t_s"] >= 60] or samples
    figures = {
        node: {
            "first_mb": settled[0][node],
            "last_mb": settled[-1][node],
            "growth_mb": settled[-1][node] - settled[0][node],
            "peak_mb": max(s[node] for s in samples),
        }
        for node in NODES
    }
    if args.json:
        print(json.dumps({"mode": args.mode, "minutes": args.minutes, "from_s": settled[0]["t_s"],
                          "to_s": settled[-1]["t_s"], "nodes": figures}, indent=2))  # fmt: skip
        return
    print(f"\nnode memory ({args.mode}, {args.minutes:g} min, loads stepping every second)")
    for node, f in figures.items():
        span = f"{settled[0]['t_s']} s -> {settled[-1]['t_s']} s"
        print(f"  {node}: {f['first_mb']:.1f} -> {f['last_mb']:.1f} MB over {span}")
        print(f"        growth {f['growth_mb']:+.1f} MB, peak {f['peak_mb']:.1f} MB")


if __name__ == "__main__":
    main()
