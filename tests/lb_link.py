"""Drive load-balancer cores directly: deliver their messages in order, fire their timers.

No wire, no clock: ``now`` advances only when a test says so. The plant follows every PStar
at once (``gateway = PStar``), so a round after a migration sees its effect. A phase starts
with a perfect state collection: every core gets every core's state as of its last round.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from controller.core.collected import Collected
from controller.core.effects import (
    BROADCAST,
    Answer,
    Effect,
    Note,
    Send,
    SetPStar,
    StoreSession,
    TimerKey,
)
from controller.core.executor import execute
from controller.core.group import Group
from controller.core.messages import Message
from controller.core.readings import Readings
from controller.lb.core import LoadBalancer
from controller.lb.settings import LbSettings
from controller.peer.posted import Posted


@dataclass
class Plant:
    gateway: float
    net_generation: float
    pstar: float
    dgi_enable: bool | None = None
    frequency: float | None = None
    fresh: bool = True
    ignores_writes: bool = False  # an SST in local mode: acknowledges, keeps its setpoint
    no_value: bool = False  # its command point reads back "no value" (1e8), as after a reboot

    def readings(self, now: float = 0.0) -> Readings:
        counts = {"Sst": 1, "Drer": 1}
        if self.frequency is not None:
            counts["Omega"] = 1
        return Readings(
            gateway=self.gateway,
            generation=self.net_generation,
            counts=counts,
            pstar=None if self.no_value else self.pstar,
            setpoint=None if self.no_value else self.pstar,
            setpoint_readable=True,
            setpoint_read_mark=now,
            gateway_read_mark=now,
            pstar_min=-100.0,
            pstar_max=100.0,
            dgi_enable=self.dgi_enable,
            frequency=self.frequency,
            fresh=self.fresh,
            stale=() if self.fresh else ("x",),
        )


@dataclass
class Link:
    """Cores by id, their plants, the messages in flight and the armed timers."""

    settings: LbSettings
    plants: dict[str, Plant]
    now: float = 0.0
    cores: dict[str, LoadBalancer] = field(default_factory=dict)
    wire: deque[tuple[str, str, Message]] = field(default_factory=deque)
    timers: dict[tuple[str, TimerKey], float] = field(default_factory=dict)
    notes: list[tuple[str, Note]] = field(default_factory=list)
    setpoints: list[tuple[str, float]] = field(default_factory=list)
    sent: list[tuple[str, str, Message]] = field(default_factory=list)
    lost: set[str] = field(default_factory=set)  # message type names to drop
    snapshots: int = 0
    saved: dict[tuple[str, str], Mapping[str, object]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for n, node in enumerate(sorted(self.plants), start=1):
            self.cores[node] = LoadBalancer(node, self.settings, epoch=n)
            self.cores[node].group_changed(Group.static(self.plants), self.now)

    @classmethod
    def of(cls, settings: LbSettings, **nodes: tuple[float, float]) -> Link:
        """``Link.of(settings, a=(G, NG), b=(G, NG))``."""
        return cls(settings, {n: Plant(g, ng, g) for n, (g, ng) in nodes.items()})

    def apply(self, node: str, effects: list[Effect]) -> None:
        """Messages go straight to their targets' queue; the rest through the executor."""
        for effect in effects:
            if isinstance(effect, Send):
                targets = self.cores[node].peers if effect.to == BROADCAST else [effect.to]
                for target in targets:
                    self.sent.append((node, target, effect.message))
                    if type(effect.message).__name__ not in self.lost:
                        self.wire.append((node, target, effect.message))
            else:
                execute([effect], _Host(self, node))

    def start_phase(self) -> None:
        self.collect()
        for node, core in self.cores.items():
            self.apply(node, core.start_phase(self.now))

    def collect(self) -> None:
        """Every core gets the state of every core (a state collection that always works)."""
        self.snapshots += 1
        members = {node: core.local_state() for node, core in self.cores.items()}
        leader = min(self.cores)
        for core in self.cores.values():
            collected = Collected(self.snapshots, "static", leader, members, (), self.now, 0.0)
            core.state_collected(collected, self.now)

    def round(self) -> None:
        for node, core in self.cores.items():
            self.apply(node, core.round(self.plants[node].readings(self.now), self.now))

    def deliver(self) -> None:
        """Deliver every message in flight (and those they cause), first in first out."""
        while self.wire:
            sender, target, message = self.wire.popleft()
            self.apply(target, self.cores[target].message(sender, message, self.now))

    def deliver_until(self, stop: Callable[[str, str, Message], bool]) -> None:
        """Deliver messages in order, leaving the first one ``stop`` matches on the wire."""
        while self.wire and not stop(*self.wire[0]):
            sender, target, message = self.wire.popleft()
            self.apply(target, self.cores[target].message(sender, message, self.now))

    def fire(self, kind: str | None = None) -> None:
        """Fire armed timers (of one kind) in time order, delivering what they send."""
        for (node, key), at in sorted(self.timers.items(), key=lambda item: item[1]):
            if (node, key) in self.timers and (kind is None or key[0] == kind):
                del self.timers[(node, key)]
                self.now = max(self.now, at)
                self.apply(node, self.cores[node].timer(key, self.now))
                self.deliver()

    def cycle(self) -> None:
        """One round: run it, deliver, close request windows that are still open, deliver."""
        self.round()
        self.deliver()
        self.fire("window")
        self.now += 0.1

    def migrations(self) -> list[tuple[str, str, float]]:
        """(supply, demand, amount) of every completed migration, as the supply side saw it."""
        return [
            (node, str(note.data["peer"]), float(note.data["amount"]))  # type: ignore[arg-type]
            for node, note in self.notes
            if note.kind == "migration" and note.data.get("role") == "supply"
        ]

    def state(self, node: str) -> str:
        return self.cores[node].state


@dataclass(frozen=True)
class _Host:
    """One core's effects on the link (controller.core.executor)."""

    link: Link
    node: str

    def transmit(self, to: str, data: bytes) -> None:
        raise AssertionError("the direct link carries messages, not datagrams")

    def post(self, to: str, posted: Posted) -> None:
        raise AssertionError("the direct link carries messages, not posted ones")

    def command(self, effect: SetPStar) -> None:
        """An instant device: written and acknowledged."""
        link, plant = self.link, self.link.plants[self.node]
        if not plant.ignores_writes:
            plant.pstar = plant.gateway = effect.kw
        link.setpoints.append((self.node, effect.kw))
        core = link.cores[self.node]
        core.command_sent(effect.seq)
        link.apply(self.node, core.command_acked(effect.seq, effect.setpoint, link.now))

    def show_group(self, bits: int) -> None:
        raise AssertionError("the load balancer has no group to show")

    def persist(self, key: str, data: Mapping[str, object]) -> None:
        self.link.saved[(self.node, key)] = data

    def start_timer(self, key: TimerKey, at: float) -> None:
        self.link.timers[(self.node, key)] = at

    def cancel_timer(self, key: TimerKey) -> None:
        self.link.timers.pop((self.node, key), None)

    def note(self, note: Note) -> None:
        self.link.notes.append((self.node, note))

    def answer(self, effect: Answer) -> None:
        raise AssertionError("the load balancer answers no API request")

    def charge_limit(self, kw: float) -> None:
        raise AssertionError("the load balancer drives no charger")

    def store_session(self, effect: StoreSession) -> None:
        raise AssertionError("the load balancer keeps no charging session")
