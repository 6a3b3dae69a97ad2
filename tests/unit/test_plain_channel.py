"""Virtual time's plain channel (controller/peer/posted.py) against the full wire.

Messages posted unsealed go through the same faulty network with the same draws, and the
receiving wire checks their headers as it checks a datagram's, so a seeded run is the same
run either way: the same notes (migrations included) at the same times, the same setpoints,
the same network and wire counts. The plain channel still applies every fault.
"""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from controller.catalogue import MESSAGES
from controller.core.messages import DuplicateId, Limits, to_body, validate
from controller.lb.settings import LbSettings
from controller.peer.envelope import MAX_DATAGRAM
from controller.peer.posted import Posted
from controller.peer.transport import Faults
from controller.peer.wire import Dropped, Inbound, Wire
from controller.sc.messages import CollectedState
from controller.virtual.group import TEST_KEYRING, VirtualGroup
from tests.unit.test_randomized import (
    SLOW,
    adaptive_group,
    chaos,
    heal_and_settle,
    settle,
    turbulence,
)


def record(group: VirtualGroup) -> dict[str, Any]:
    """Everything a run leaves that the channel could change."""
    return {
        "notes": [(at, node, n.kind, n.text, dict(n.data), n.level) for at, node, n in group.notes],
        "setpoints": {n: v.plant.pstar for n, v in group.nodes.items()},
        "beliefs": group.beliefs(),
        "network": dict(group.network.stats),
        "wires": {n: v.core.wire.stats for n, v in group.nodes.items()},
    }


def lossy_run(seed: int, *, full_wire: bool) -> VirtualGroup:
    """Drops, duplicates and reorders, load steps, a node cut off now and then; slow devices
    and a clock 0.6 s ahead on odd seeds."""
    options: dict[str, Any] = {"devices": SLOW, "clock_offsets": {"n2": 0.6}} if seed % 2 else {}
    group, faults = adaptive_group(seed, full_wire=full_wire, **options)
    turbulence(group, faults, random.Random(seed + 1000), seconds=4.0)
    settle(group)
    return group


def chaotic_run(seed: int, *, full_wire: bool) -> VirtualGroup:
    """Group management with crashes, restarts (new boot epochs), partitions and loss."""
    group, faults = adaptive_group(seed, full_wire=full_wire, group_management=True)
    chaos(group, faults, random.Random(seed + 4000), seconds=8.0)
    heal_and_settle(group)
    return group


@pytest.mark.parametrize("seed", range(8))
def test_a_lossy_run_is_the_same_on_the_plain_channel_and_the_full_wire(seed: int) -> None:
    plain, full = lossy_run(seed, full_wire=False), lossy_run(seed, full_wire=True)

    assert record(plain) == record(full)
    assert any(n.kind == "migration" for _, _, n in plain.notes)


@pytest.mark.parametrize("seed", range(4))
def test_a_chaotic_run_is_the_same_on_the_plain_channel_and_the_full_wire(seed: int) -> None:
    plain, full = chaotic_run(seed, full_wire=False), chaotic_run(seed, full_wire=True)

    assert record(plain) == record(full)


def carried(group: VirtualGroup) -> list[object]:
    """Every payload the group's network is given from now on."""
    payloads: list[object] = []
    carry = group.network.carry

    def spy(source: str, to: str, payload: Any) -> None:
        payloads.append(payload)
        carry(source, to, payload)

    group.network.carry = spy  # type: ignore[method-assign,assignment]
    return payloads


def test_the_plain_channel_applies_every_fault() -> None:
    group, _ = adaptive_group(5, group_management=True)
    payloads = carried(group)
    faults = Faults(drop=0.2, duplicate=0.2, reorder=0.2)
    group.set_faults(faults)
    group.run(3.0)
    group.set_faults(dataclasses.replace(faults, cut=frozenset({"n1"})))
    group.run(1.0)
    group.set_faults(dataclasses.replace(faults, link_drop={frozenset(("n2", "n3")): 1.0}))
    group.run(2.0)

    stats = group.network.stats
    assert min(stats[k] for k in ("dropped", "duplicated", "delayed", "cut")) > 0, stats
    assert payloads
    assert all(isinstance(p, Posted) for p in payloads)
    wires = [node.core.wire.stats for node in group.nodes.values()]
    # every copy the network delivered reached a wire, and a second copy is refused as a replay
    assert sum(w.accepted() + sum(n for (_, r), n in w.by_type.items() if r != "accepted")
               for w in wires) == stats["delivered"]  # fmt: skip
    assert sum(w.dropped("replay") for w in wires) > 0
    notes = {n.kind for _, _, n in group.notes}
    assert "drop" in notes


def test_the_full_wire_carries_datagrams() -> None:
    group, _ = adaptive_group(5, full_wire=True)
    payloads = carried(group)
    group.run(1.0)

    assert payloads
    assert all(isinstance(p, bytes) for p in payloads)


def same_kind(mine: object, theirs: object) -> bool:
    if isinstance(mine, tuple) and isinstance(theirs, tuple):
        return all(same_kind(m, t) for m, t in zip(mine, theirs, strict=True))
    return type(mine) is type(theirs)


def test_posted_messages_are_what_the_wire_would_rebuild() -> None:
    """Sharing a message instead of decoding it at each receiver changes nothing: every
    message posted in a run with group management is what its wire body decodes to, equal
    and of the same types to the items, and passes the receiver's value checks."""
    group, faults = adaptive_group(3, group_management=True)
    payloads = carried(group)
    chaos(group, faults, random.Random(7), seconds=3.0)
    limits = Limits(LbSettings(mode="adaptive").max_amount)

    kinds = set()
    for posted in payloads:
        assert isinstance(posted, Posted)
        rebuilt = MESSAGES.from_body(posted.envelope.type, to_body(posted.message))
        assert rebuilt == posted.message
        for spec in dataclasses.fields(rebuilt):  # type: ignore[arg-type]
            mine, theirs = getattr(posted.message, spec.name), getattr(rebuilt, spec.name)
            assert same_kind(mine, theirs), (posted.envelope.type, spec.name, mine, theirs)
        validate(posted.message, limits)
        kinds.add(posted.envelope.type)
    assert len(kinds) >= 5, kinds


def wire(node: str, members: tuple[str, ...] = ("a", "b")) -> Wire:
    return Wire(node, members, TEST_KEYRING, epoch=1, limits=Limits(100.0))


def reason(result: Inbound | Dropped) -> str:
    return result.reason if isinstance(result, Dropped) else "accepted"


def test_a_posted_message_is_checked_as_a_datagram_is() -> None:
    """What the wire accepts has the sender and age the datagram would have; replayed, late,
    stranger's and misdirected messages are refused and counted under the wire's reasons."""
    a, b = wire("a"), wire("b")
    message = DuplicateId(1, 2)
    posted = a.post("b", message, 10.0)
    data = wire("a").seal("b", message, 10.0)

    assert b.take(posted, 10.25) == wire("b").open(data, 10.25)
    assert reason(b.take(posted, 10.3)) == "replay"
    assert reason(b.take(a.post("b", message, 10.0), 11.5)) == "expired"
    stranger = wire("c", ("a", "b", "c"))
    assert reason(b.take(stranger.post("b", message, 12.0), 12.0)) == "not_member"
    assert reason(b.take(a.post("c", message, 12.0), 12.0)) == "misdirected"
    assert [b.stats.dropped(r) for r in ("replay", "expired", "not_member")] == [1, 1, 1]
    assert a.stats.sent["DuplicateId"] == 3


def collected(n: int, took_ms: float = 1.5) -> CollectedState:
    nodes = tuple(f"n{i}" for i in range(n))
    zeros = (0.0,) * n
    return CollectedState(1, "n0", took_ms, nodes, ("Normal",) * n, (1,) * n, zeros, zeros,
                          zeros, zeros, ())  # fmt: skip


def test_a_message_too_large_for_a_datagram_is_refused_as_on_the_wire() -> None:
    big = collected(300)
    posted = wire("a").post("b", big, 10.0)
    data = wire("a").seal("b", big, 10.0)

    assert posted.size == len(data) > MAX_DATAGRAM
    taken, opened = wire("b").take(posted, 10.0), wire("b").open(data, 10.0)
    assert taken == opened
    assert reason(taken) == "malformed"


def test_a_receiver_holds_what_it_would_have_decoded() -> None:
    """An integer in a float field (a state's in_transit of ``sum([])``) arrives a float."""
    taken = wire("b").take(wire("a").post("b", collected(2, took_ms=0), 10.0), 10.0)

    assert isinstance(taken, Inbound)
    assert isinstance(taken.message, CollectedState)
    assert type(taken.message.took_ms) is float
