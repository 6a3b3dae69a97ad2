"""Group-management benchmark in virtual time (the real node cores, wire and election).

    .venv/bin/python bench/group.py [--json] [--full-wire]

* Regroup: a group of N forms; its leader is cut off (as a SIGKILL looks to the others); the
  virtual seconds until the survivors agree on one new group, and until the leader, back,
  is in one group with them again. Target: each within 2 GM cycles (2.48 s with fast-5).
* Datagrams per node per second, all kinds, at 3, 30 and 100 nodes in one group (fast-5
  timings, adaptive mode, balanced loads): what heartbeats cost as the site grows.
* Wall seconds for 2.5 virtual seconds of 100 nodes in one group, on the plain channel and on
  the full wire (every datagram sealed and opened). The other figures use the plain channel
  unless ``--full-wire`` (they are the same either way: the channel changes no outcome).

Real processes: tests/system/test_group.py does the same with three ``dgi run``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller.lb.settings import LbSettings  # noqa: E402
from controller.peer.transport import Faults  # noqa: E402
from controller.virtual.group import VirtualGroup  # noqa: E402

CYCLE_S = 1.24
STEP_S = 0.01


def group_of(n: int, *, full_wire: bool = False) -> VirtualGroup:
    return VirtualGroup(
        gateways=[0.0] * n,
        net_generations=[0.0] * n,
        settings=LbSettings(mode="adaptive"),
        group_management=True,
        full_wire=full_wire,
    )


def one_group(vg: VirtualGroup, nodes: list[str]) -> bool:
    seen = {vg.nodes[n].core.group for n in nodes}
    return len(seen) == 1 and set(seen.pop().members) == set(nodes)


def until_one(vg: VirtualGroup, nodes: list[str], limit_s: float = 30.0) -> float:
    start = vg.now
    while not one_group(vg, nodes):
        if vg.now - start > limit_s:
            return float("inf")
        vg.run(STEP_S)
    return vg.now - start


def regroup(n: int, *, full_wire: bool) -> dict[str, float]:
    vg = group_of(n, full_wire=full_wire)
    ids = sorted(vg.nodes)
    formed = until_one(vg, ids)
    vg.run(2 * CYCLE_S)
    vg.set_faults(Faults(cut=frozenset({"n1"})))
    survivors = until_one(vg, ids[1:])
    vg.set_faults(Faults())
    rejoined = until_one(vg, ids)
    return {"formed_s": formed, "regrouped_s": survivors, "rejoined_s": rejoined}


def datagrams(n: int, *, full_wire: bool, seconds: float = 5.0) -> float:
    vg = group_of(n, full_wire=full_wire)
    vg.run(2 * CYCLE_S)  # formed
    before = vg.network.stats["sent"]
    vg.run(seconds)
    return (vg.network.stats["sent"] - before) / n / seconds


def wall_s(n: int, *, full_wire: bool, seconds: float = 2.5) -> float:
    """Wall seconds for ``seconds`` of virtual time from the start (the group forming)."""
    vg = group_of(n, full_wire=full_wire)
    start = time.perf_counter()
    vg.run(seconds)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--full-wire", action="store_true", help="seal and open every datagram")
    args = parser.parse_args()
    full = args.full_wire
    figures: dict[str, object] = {
        "regroup": {str(n): regroup(n, full_wire=full) for n in (3, 10, 30)},
        "datagrams_per_node_per_s": {
            str(n): round(datagrams(n, full_wire=full), 1) for n in (3, 30, 100)
        },
        "wall_s_100_nodes_2.5_virtual_s": {
            "plain": round(wall_s(100, full_wire=False), 2),
            "full_wire": round(wall_s(100, full_wire=True), 2),
        },
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print("regroup in virtual time (target: each <= 2 GM cycles = 2.48 s)")
    for n, f in figures["regroup"].items():  # type: ignore[attr-defined]
        print(f"  {n:>3} nodes: formed {f['formed_s']:.2f} s, after the leader is cut "
              f"{f['regrouped_s']:.2f} s, leader back {f['rejoined_s']:.2f} s")  # fmt: skip
    print("datagrams per node per second (all kinds)")
    for n, v in figures["datagrams_per_node_per_s"].items():  # type: ignore[attr-defined]
        print(f"  {n:>3} nodes: {v}")
    print("wall seconds for 2.5 virtual seconds, 100 nodes")
    for channel, v in figures["wall_s_100_nodes_2.5_virtual_s"].items():  # type: ignore[attr-defined]
        print(f"  {channel}: {v} s")


if __name__ == "__main__":
    main()
