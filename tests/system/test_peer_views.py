"""One truth for a peer's state: the load table (text and JSON), ``/api/v1/peers``, the round
events behind the live page and the peer itself agree at every step, while the group's
states change, a peer is disabled (and still shown as it says), stops (and leaves the
group) and comes back (and rejoins) — three ``dgi run``
processes and ``dgi simulate``."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.system.lab import Lab, Observer, until

NODES = ("sst1", "sst2", "sst3")
STALE_S = 3.72  # three fast-5 cycles
LINE = re.compile(r"^\((?P<state>[A-Z]+)\) (?P<peer>\S+) \((?P<age>[\d.]+) s ago\)$")


def views(lab: Lab, node: str) -> dict[str, dict[str, Any]]:
    """What ``node`` shows of each peer, view by view."""
    table = lab.api(node, "/api/v1/load-table")
    peers = lab.api(node, "/api/v1/peers")
    history = lab.api(node, "/api/v1/history")
    text: dict[str, str] = {}
    for line in table["text"].splitlines():
        if match := LINE.match(line):
            text[match["peer"]] = match["state"].lower()
        elif line.startswith("( ???? ) "):
            text[line.removeprefix("( ???? ) ")] = "unknown"
    out: dict[str, dict[str, Any]] = {}
    for peer in (n for n in NODES if n != node):
        listed = next(p for p in peers if p["id"] == peer)
        out[peer] = {
            "in_group": listed["in_group"],
            "text": text.get(peer),
            "load-table": next((n["state"] for n in table["nodes"] if n["id"] == peer), None),
            "peers": listed["state"],
            "round": next((m["state"] for m in history[-1]["group"] if m["id"] == peer), None),
            "age": listed["age_s"],
        }
    return out


def consistent(view: dict[str, Any]) -> bool:
    """A member is shown alike everywhere; a node outside the group only in the peers list."""
    if view["in_group"]:
        return len({view["text"], view["load-table"], view["peers"], view["round"]}) == 1
    return view["text"] is None and view["load-table"] is None and view["round"] is None


def agreeing(lab: Lab, node: str) -> dict[str, dict[str, Any]]:
    """The node's views of its peers, read until one read agrees (a read spans two or three
    snapshots); a view that disagrees for 3 s is a failure, not a race."""
    deadline = time.monotonic() + 3
    while True:
        seen = views(lab, node)
        split = {p: v for p, v in seen.items() if not consistent(v)}
        if not split:
            return seen
        assert time.monotonic() < deadline, f"{node}'s views disagree: {split}"
        time.sleep(0.1)


def everyone_agrees(lab: Lab, running: tuple[str, ...], stopped: tuple[str, ...] = ()) -> bool:
    """Every running node has each running peer in its group, shown in the state the peer
    gives itself, heard within the stale time; and each stopped peer out of its group, not
    shown in any state it once had."""
    own = {n: lab.api(n, "/api/v1/status")["state"] for n in running}
    for node in running:
        for peer, view in agreeing(lab, node).items():
            if peer in stopped:
                if view["in_group"] or view["peers"] not in ("stale", "unknown"):
                    return False
            elif not view["in_group"] or view["peers"] != own[peer] or view["age"] > STALE_S:
                return False
    return True


@pytest.mark.parametrize("mode", ["adaptive", "freedm"])
async def test_every_view_shows_each_peer_as_it_last_said(
    mode: str, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    lab = Lab.create(
        tmp_path, processes, edit=lambda text: text.replace('mode = "adaptive"', f'mode = "{mode}"')
    )
    lab.start_simulator()
    for node in NODES:
        lab.start_node(node)
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")

    # the start: sst2 supplies sst1 and sst3 until the group is balanced
    await until(lambda: everyone_agrees(lab, NODES), 20, "agreement at the start")

    # a deficit the group cannot balance: sst2's load goes from 25 to 60 kW
    observer = Observer(lab.site)
    try:
        await observer.write("sst2-load", "drain", 60.0)
    finally:
        await observer.close()
    await until(lambda: everyone_agrees(lab, NODES), 20, "agreement after the load step")
    residuals = await until(
        lambda: (
            (r := {n: lab.api(n, "/api/v1/load-table")["residual"] for n in NODES})
            and all(abs(x + 35.0) < 1.5 for x in r.values())
            and r
        ),
        20,
        "a residual of -35 kW on every node",
    )
    assert all(abs(x + 35.0) < 1.5 for x in residuals.values())

    # sst3 is disabled (held): it still says where it is, so nobody shows it stale
    lab.put("sst3", "/api/v1/control", {"enabled": False})
    await until(lambda: lab.api("sst3", "/api/v1/status")["enabled"] is False, 10, "disabled")
    await asyncio.sleep(2 * STALE_S)
    await until(lambda: everyone_agrees(lab, NODES), 10, "agreement while sst3 is disabled")
    lab.put("sst3", "/api/v1/control", {"enabled": True})

    # sst3 stops: the others' group management drops it, and no view shows its last state
    lab.stop_node("sst3")
    await until(lambda: everyone_agrees(lab, ("sst1", "sst2"), ("sst3",)), 20, "sst3 stale")
    assert " sst3" not in lab.api("sst1", "/api/v1/load-table")["text"]  # left the group

    # it comes back: every view shows its state again
    lab.start_node("sst3")
    await until(lambda: everyone_agrees(lab, NODES), 30, "agreement after sst3 returned")
    lab.alive()
