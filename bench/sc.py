"""State-collection benchmark: how long the leader's snapshot of a group of N takes.

    .venv/bin/python bench/sc.py [--json] [--repeat 50]

The real node cores (wire: HMAC, msgpack, checks; the sc module), a static group of N:

* in memory — datagrams handed from core to core by function calls, so the figure is the
  processing cost alone: the leader's marker out, every member's state in, the collected
  state out and taken by every member;
* UDP on loopback — every core with its own UDP socket on 127.0.0.1 in one asyncio process
  (so the N nodes share one core of the CPU: an upper bound for N processes on N hosts):
  from the leader's SC phase start to the last member holding the collected state.

Each figure is the median (and p99) over ``--repeat`` collections. The SC phase with fast-5
timings is 80 ms; the collection must fit well inside it (the leader's time-out is 60 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.assembly import CoreSpec, assemble  # noqa: E402
from controller.core.effects import Effect, Transmit  # noqa: E402
from controller.core.node_core import NodeCore  # noqa: E402
from controller.core.readings import Readings  # noqa: E402
from controller.lb.settings import LbSettings  # noqa: E402
from controller.peer.keys import Keyring  # noqa: E402
from controller.peer.transport import UdpTransport  # noqa: E402

KEYS = Keyring("bench", {"bench": bytes(range(32))})
SIZES = (3, 10, 30)


def cores(n: int, now: float) -> dict[str, NodeCore]:
    ids = [f"n{i:03d}" for i in range(1, n + 1)]
    out = {}
    for index, node in enumerate(ids):
        core = assemble(CoreSpec(node, ids, LbSettings(max_amount=1000.0), KEYS, epoch=index + 1))
        core.phase_started("lb", now)
        core.round(Readings(gateway=float(index), generation=1.0, counts={"Sst": 1}), now)
        out[node] = core
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def in_memory(n: int, repeat: int) -> list[float]:
    now = time.time()
    nodes = cores(n, now)
    leader = nodes[min(nodes)]
    times = []
    for _ in range(repeat):
        now += 1.0
        for core in nodes.values():
            core.phase = "gm"
        queue: deque[tuple[str, bytes]] = deque()
        start = time.perf_counter()
        for core in nodes.values():
            if core is not leader:
                core.phase_started("sc", now)
        effects: list[Effect] = leader.phase_started("sc", now)
        queue.extend((e.to, e.data) for e in effects if isinstance(e, Transmit))
        while queue:
            to, data = queue.popleft()
            fx = nodes[to].datagram(data, now)
            queue.extend((e.to, e.data) for e in fx if isinstance(e, Transmit))
        times.append(time.perf_counter() - start)
        held = [c.lb.collected for c in nodes.values()]
        assert all(c is not None and c.received == now for c in held)
    return times


async def over_udp(n: int, repeat: int) -> list[float]:
    now = time.time()
    nodes = cores(n, now)
    leader_id = min(nodes)
    done: asyncio.Event = asyncio.Event()
    holding: set[str] = set()
    snapshot = {"id": -1}
    transports: dict[str, UdpTransport] = {}

    def receiver(node: str):  # type: ignore[no-untyped-def]
        def receive(data: bytes) -> None:
            fx = nodes[node].datagram(data, time.time())
            send(node, fx)

        return receive

    def send(node: str, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, Transmit):
                transports[node].send(effect.to, effect.data)
        collected = nodes[node].lb.collected
        if collected is not None and collected.snapshot == snapshot["id"]:
            holding.add(node)
            if len(holding) == n:
                done.set()

    for node in nodes:
        transports[node] = await UdpTransport.bind(("127.0.0.1", 0), {}, receiver(node))
    table = {node: t.address for node, t in transports.items()}
    for t in transports.values():
        t.peers = dict(table)
    leader = nodes[leader_id]
    sc = leader.modules["sc"]
    times = []
    for _ in range(repeat):
        for core in nodes.values():
            core.phase = "gm"
        for node, core in nodes.items():
            if core is not leader:
                send(node, core.phase_started("sc", time.time()))
        done.clear()
        holding.clear()
        snapshot["id"] = sc.base + sc.counter + 1  # type: ignore[attr-defined]
        start = time.perf_counter()
        send(leader_id, leader.phase_started("sc", time.time()))
        await asyncio.wait_for(done.wait(), 5.0)
        times.append(time.perf_counter() - start)
        await asyncio.sleep(0.01)
    for t in transports.values():
        t.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    figures: dict[str, dict[int, dict[str, float]]] = {"memory": {}, "udp": {}}
    for n in SIZES:
        for kind, times in (
            ("memory", in_memory(n, args.repeat)),
            ("udp", asyncio.run(over_udp(n, args.repeat))),
        ):
            figures[kind][n] = {
                "p50_ms": statistics.median(times) * 1000,
                "p99_ms": pct(times, 0.99) * 1000,
            }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("state collection, leader's marker to every member holding the collected state")
    for kind, label in (("memory", "in memory (processing only)"), ("udp", "UDP on loopback")):
        print(f"  {label}")
        for n in SIZES:
            f = figures[kind][n]
            print(f"    {n:3d} nodes: p50 {f['p50_ms']:7.2f} ms, p99 {f['p99_ms']:7.2f} ms")
    print("  (target: well inside the SC phase, 80 ms with fast-5; the leader waits 60 ms)")


if __name__ == "__main__":
    main()
