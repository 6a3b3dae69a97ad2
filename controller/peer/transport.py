"""Datagram transports with one interface: UDP between nodes, and an in-memory network.

``send(peer, data)`` puts one datagram on the way; the ``receiver`` callback gets each one
that arrives. The in-memory network drops, duplicates, delays and reorders datagrams from a
seeded random generator, and schedules deliveries through a function it is given (the asyncio
loop's ``call_later``, or a virtual clock's), so the same network serves real-time runs and
deterministic simulations. What it carries is its user's business — datagrams, or the
messages of virtual time's plain channel (:mod:`controller.peer.posted`) — and its fault
draws do not depend on it: a seed gives the same drops, copies and delays either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

log = logging.getLogger(__name__)

Receiver = Callable[[bytes], None]
Schedule = Callable[[float, Callable[[], None]], object]
P = TypeVar("P")  # what an in-memory network carries


#: The receive buffer a peer socket asks for (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER = 4 << 20


class UdpTransport(asyncio.DatagramProtocol):
    """One UDP socket per node; peers are addressed by id through the site's peer table."""

    def __init__(self, peers: Mapping[str, tuple[str, int]], receiver: Receiver) -> None:
        self.peers = dict(peers)
        self.receiver = receiver
        self.transport: asyncio.DatagramTransport | None = None
        self.send_errors: Counter[str] = Counter()

    @classmethod
    async def bind(
        cls, address: tuple[str, int], peers: Mapping[str, tuple[str, int]], receiver: Receiver
    ) -> UdpTransport:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: cls(peers, receiver), local_addr=address
        )
        return protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's selector datagram transport does not subclass DatagramTransport (3.11).
        self.transport = cast(asyncio.DatagramTransport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for a burst while the loop is busy (up to rmem_max)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.receiver(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable from a peer that is down: expected, counted, not fatal.
        self.send_errors[type(exc).__name__] += 1
        log.debug("UDP error: %s", exc)

    def send(self, to: str, data: bytes) -> None:
        if self.transport is not None and to in self.peers:
            self.transport.sendto(data, self.peers[to])

    @property
    def address(self) -> tuple[str, int]:
        assert self.transport is not None
        host, port = self.transport.get_extra_info("sockname")[:2]
        return host, port

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None


@dataclass
class Faults:
    """What the in-memory network does to each datagram."""

    drop: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0  # chance of an extra delay that lets later datagrams overtake
    delay_s: float = 0.0002
    jitter_s: float = 0.0001
    reorder_delay_s: float = 0.005
    cut: frozenset[str] = frozenset()  # nodes cut off: everything to or from them is lost
    # per link (the two nodes, either way): the chance a datagram is lost, beyond ``drop``;
    # 1.0 is a link that is down (FREEDM's network.xml reliabilities)
    link_drop: Mapping[frozenset[str], float] = field(default_factory=dict)
    # a partition: node -> its cell; a datagram between two cells is lost (nodes in no cell
    # reach everyone)
    cells: Mapping[str, int] = field(default_factory=dict)


@dataclass
class InMemoryNetwork(Generic[P]):
    """A lossy network between named endpoints, deterministic for a given seed; it carries
    payloads of type ``P`` (datagrams: ``bytes``)."""

    schedule: Schedule
    rng: random.Random = field(default_factory=random.Random)
    faults: Faults = field(default_factory=Faults)
    receivers: dict[str, Callable[[P], None]] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)

    def endpoint(self, name: str, receiver: Callable[[P], None]) -> InMemoryTransport[P]:
        self.receivers[name] = receiver
        return InMemoryTransport(self, name)

    def carry(self, source: str, to: str, data: P) -> None:
        faults, stats, draw = self.faults, self.stats, self.rng.random
        stats["sent"] += 1
        if source in faults.cut or to in faults.cut:
            stats["cut"] += 1
            return
        cells = faults.cells
        if cells and cells.get(source, -1) != cells.get(to, -1) and source in cells and to in cells:
            stats["cut"] += 1
            return
        # a chance of 0 draws nothing: a quiet network costs one draw per datagram (its jitter)
        lost = faults.link_drop.get(frozenset((source, to)), 0.0) if faults.link_drop else 0.0
        if (faults.drop and draw() < faults.drop) or (lost and draw() < lost):
            stats["dropped"] += 1
            return
        copies = 2 if faults.duplicate and draw() < faults.duplicate else 1
        if copies > 1:
            stats["duplicated"] += 1
        for _ in range(copies):
            delay = faults.delay_s + (draw() * faults.jitter_s if faults.jitter_s else 0.0)
            if faults.reorder and draw() < faults.reorder:
                delay += draw() * faults.reorder_delay_s
                stats["delayed"] += 1
            self.schedule(delay, lambda: self._deliver(to, data))

    def _deliver(self, to: str, data: P) -> None:
        receiver = self.receivers.get(to)
        if receiver is not None:
            self.stats["delivered"] += 1
            receiver(data)


@dataclass
class InMemoryTransport(Generic[P]):
    """An endpoint of an :class:`InMemoryNetwork`; same ``send``/``close`` as UDP."""

    network: InMemoryNetwork[P]
    name: str

    def send(self, to: str, data: P) -> None:
        self.network.carry(self.name, to, data)

    def close(self) -> None:
        self.network.receivers.pop(self.name, None)
