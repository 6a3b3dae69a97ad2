"""Device I/O benchmark: read every point of one substation concurrently over TCP loopback.

The simulator runs as its own process (``dgi simulate``), as it does beside a real node; the
node side is this process: one driver per device, all read with ``asyncio.gather`` each round.

    .venv/bin/python bench/device_io.py [--rounds 2000] [--node sst1] [--json]

Prints p50/p99/max per round, Modbus requests per round and per device, and resident memory.
Targets (issue #2): p99 <= 2 ms, one request per device per round.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.loader import load_site  # noqa: E402
from device_drivers.modbus import LinkPool  # noqa: E402
from device_drivers.registry import Connections, build_driver  # noqa: E402


def rss_mb(pid: str | int = "self") -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def any_port_copy(site: Path, directory: Path) -> Path:
    """The site with every simulated device on port 0; the simulator reports the real ports."""
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", r"\g<1>0", site.read_text(encoding="utf-8"))
    target = directory / site.name
    target.write_text(text, encoding="utf-8")
    return target


def start_simulator(site: Path, endpoints: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "controller",
            "simulate",
            "--config",
            str(site),
            "--endpoints",
            str(endpoints),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not endpoints.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("the simulator did not start")
        time.sleep(0.05)
    return proc


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


@dataclass
class Result:
    node: str
    devices: list[str]
    rounds: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    requests_per_round: float
    requests_per_device_per_round: float
    errors: int
    node_rss_mb: float = 0.0
    simulator_rss_mb: float = 0.0


async def measure(
    site_path: Path, where: dict[str, tuple[str, int]], node: str, rounds: int
) -> Result:
    site = load_site(site_path)
    pool = LinkPool()
    drivers = [
        build_driver(d, Connections(pool), address=where[d.id]) for d in site.devices_of(node)
    ]
    try:
        for _ in range(50):  # connect and warm up
            await asyncio.gather(*(d.read_all() for d in drivers))
        before = sum(d.stats.requests for d in drivers)
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            await asyncio.gather(*(d.read_all() for d in drivers))
            times.append(time.perf_counter() - start)
        requests = sum(d.stats.requests for d in drivers) - before
        errors = sum(d.stats.errors for d in drivers)
    finally:
        for driver in drivers:
            await driver.close()
        pool.close()
    times.sort()
    return Result(
        node=node,
        devices=[f"{d.device_id} ({d.profile.device_type})" for d in drivers],
        rounds=rounds,
        p50_ms=percentile(times, 0.50) * 1000,
        p99_ms=percentile(times, 0.99) * 1000,
        max_ms=times[-1] * 1000,
        mean_ms=statistics.fmean(times) * 1000,
        requests_per_round=requests / rounds,
        requests_per_device_per_round=requests / rounds / len(drivers),
        errors=errors,
    )


def read_endpoints(path: Path) -> dict[str, tuple[str, int]]:
    return {row["device"]: (row["host"], row["port"]) for row in json.loads(path.read_text())}


def report(result: Result) -> None:
    print(f"device_io: node {result.node}, {len(result.devices)} devices, {result.rounds} rounds")
    print(f"  devices              {', '.join(result.devices)}")
    print(f"  round p50            {result.p50_ms:.3f} ms")
    print(f"  round p99            {result.p99_ms:.3f} ms   (target <= 2 ms)")
    print(f"  round max            {result.max_ms:.3f} ms")
    print(f"  round mean           {result.mean_ms:.3f} ms")
    print(f"  requests per round   {result.requests_per_round:.2f}")
    print(f"  requests per device  {result.requests_per_device_per_round:.2f} per round (target 1)")
    print(f"  errors               {result.errors}")
    print(f"  node RSS             {result.node_rss_mb:.1f} MB")
    print(f"  simulator RSS        {result.simulator_rss_mb:.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--site", type=Path, default=ROOT / "config/examples/three-substations.toml"
    )
    parser.add_argument("--node", default="sst1")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        site = any_port_copy(args.site, Path(tmp))
        endpoints = Path(tmp) / "endpoints.json"
        simulator = start_simulator(site, endpoints)
        try:
            result = asyncio.run(measure(site, read_endpoints(endpoints), args.node, args.rounds))
            result.node_rss_mb = rss_mb()
            result.simulator_rss_mb = rss_mb(simulator.pid)
        finally:
            simulator.terminate()
            simulator.wait(10)
    if args.json:
        print(json.dumps(asdict(result), indent=2))
    else:
        report(result)


if __name__ == "__main__":
    main()
