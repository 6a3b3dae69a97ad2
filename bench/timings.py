"""Which timing profile should be the default? FREEDM's timing model, fed with measurements.

    .venv/bin/python bench/timings.py [--json]

FREEDM sized its phases from two figures (OtherDocs/FREEDM-Timings.xlsx): ``p``, the time to
process one message, and ``c``, the one-way latency between nodes; an LB round must be at
least ``(3N+12)p + 6c`` for N nodes, a state collection ``(3N+6)p + 4c``, an AYC/AYT timeout
``(N+4)p + 2c`` and an invite ``(2N+4)p + 3c``. To that a round adds its device reads.

This measures ``p`` (open a datagram, handle it in the core, seal the answer), ``c`` (a UDP
datagram between two processes, sent every 100 ms as rounds do — idle gaps cost time on a
virtual machine), and the device reads of one substation every 100 ms, then prints each
published profile's margin for 3 to 30 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config.timings import PROFILES  # noqa: E402
from controller.assembly import CoreSpec, assemble  # noqa: E402
from controller.core.messages import Limits  # noqa: E402
from controller.core.readings import Readings  # noqa: E402
from controller.lb.messages import DraftRequest  # noqa: E402
from controller.lb.settings import LbSettings  # noqa: E402
from controller.peer.keys import Keyring  # noqa: E402
from controller.peer.wire import Wire  # noqa: E402

KEYS = Keyring("k", {"k": bytes(32)})
ECHO = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1], flush=True)
while True:
    data, addr = s.recvfrom(2048); s.sendto(data, addr)
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def processing_time(samples: int = 20_000) -> float:
    """p: one DraftRequest in (authenticated), the DraftAge out (sealed), through NodeCore."""
    members = ["a", "b"]
    sender = Wire("a", members, KEYS, epoch=1, limits=Limits(1000.0))
    node = assemble(CoreSpec("b", members, LbSettings(), KEYS, epoch=1))
    now = time.time()
    node.phase_started("lb", now)
    node.round(Readings(gateway=0.0, generation=-5.0, counts={"Sst": 1}), now)
    datagrams = [sender.seal("b", DraftRequest(n), now) for n in range(samples)]
    start = time.perf_counter()
    for data in datagrams:
        node.datagram(data, now)
    return (time.perf_counter() - start) / samples


def one_way_latency(samples: int = 100) -> tuple[float, float]:
    """c: half a UDP round trip to another process, one datagram every 100 ms (p50, p99)."""
    echo = subprocess.Popen([sys.executable, "-c", ECHO], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        port = int(echo.stdout.readline())
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            trips = []
            for _ in range(samples):
                time.sleep(0.1)
                start = time.perf_counter()
                sock.sendto(b"x" * 150, ("127.0.0.1", port))
                sock.recvfrom(2048)
                trips.append(time.perf_counter() - start)
    finally:
        echo.kill()
        echo.wait()
    return pct(trips, 0.5) / 2, pct(trips, 0.99) / 2


def device_reads() -> tuple[float, float]:
    """One substation's six devices read concurrently every 100 ms (p50, p99)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import device_io

    with tempfile.TemporaryDirectory() as tmp:
        site = device_io.any_port_copy(ROOT / "config/examples/three-substations.toml", Path(tmp))
        endpoints = Path(tmp) / "endpoints.json"
        simulator = device_io.start_simulator(site, endpoints)
        try:
            where = device_io.read_endpoints(endpoints)
            times = asyncio.run(_reads(site, where))
        finally:
            simulator.terminate()
            simulator.wait(10)
    return pct(times, 0.5), pct(times, 0.99)


async def _reads(site_path: Path, where: dict[str, tuple[str, int]]) -> list[float]:
    from config.loader import load_site
    from device_drivers.modbus import LinkPool
    from device_drivers.registry import Connections, build_driver

    site = load_site(site_path)
    pool = LinkPool()
    drivers = [
        build_driver(d, Connections(pool), address=where[d.id]) for d in site.devices_of("sst1")
    ]
    times = []
    for n in range(110):
        await asyncio.sleep(0.1)
        start = time.perf_counter()
        await asyncio.gather(*(d.read_all() for d in drivers))
        if n >= 10:
            times.append(time.perf_counter() - start)
    for driver in drivers:
        await driver.close()
    pool.close()
    return times


def margins(p: float, c99: float, r99: float) -> dict[str, dict[str, float]]:
    """Each profile's LB_ROUND_TIME over the round its nodes need, for 3 to 30 nodes."""
    return {
        name: {
            str(n): timings.LB_ROUND_TIME / (((3 * n + 12) * p + 6 * c99 + r99) * 1000)
            for n in (3, 5, 10, 30)
        }
        for name, timings in PROFILES.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    p = processing_time()
    c50, c99 = one_way_latency()
    r50, r99 = device_reads()
    table = margins(p, c99, r99)
    if args.json:
        print(json.dumps({"p_us": p * 1e6, "c_p50_ms": c50 * 1e3, "c_p99_ms": c99 * 1e3,
                          "reads_p50_ms": r50 * 1e3, "reads_p99_ms": r99 * 1e3,
                          "margins": table}, indent=2))  # fmt: skip
        return
    print(f"per-message processing p       {p * 1e6:.1f} µs")
    print(f"one-way latency c (p50 / p99)  {c50 * 1e3:.3f} / {c99 * 1e3:.3f} ms")
    reads = f"{r50 * 1e3:.2f} / {r99 * 1e3:.2f} ms"
    print(f"device reads (p50 / p99)       {reads} (six devices, every 100 ms)")
    print()
    print("LB round needed = (3N+12)p + 6c + device reads, with the p99 figures")
    header = f"{'profile':<12} {'round ms':>8} {'request ms':>10}" + "".join(
        f"{f'N={n}':>9}" for n in (3, 5, 10, 30)
    )
    print(header)
    for name, timings in PROFILES.items():
        cells = [f"{table[name][str(n)]:8.1f}x" for n in (3, 5, 10, 30)]
        print(
            f"{name:<12} {timings.LB_ROUND_TIME:>8} {timings.LB_REQUEST_TIMEOUT:>10}"
            + "".join(f"{c:>9}" for c in cells)
        )
    print("(margin = LB_ROUND_TIME / round needed)")


if __name__ == "__main__":
    main()
