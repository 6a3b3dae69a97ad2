"""State collection's messages and their value rules.

FREEDM's snapshot exchange, authenticated like every message: the leader's ``Marker``, each
member's ``State`` back, and the leader's ``CollectedState`` to every member — which carries
every answer, not only ``K``, so the members see the group as the leader collected it and no
node needs to tell every other one its state each round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from controller.core.messages import InvalidMessage, Limits, Message
from controller.lb.messages import check_state

MAX_MEMBERS = 1000


class ScMessage(Message):
    namespace: ClassVar[str] = "sc"


def _count(value: int, name: str) -> None:
    if not 0 <= value <= 1_000_000:
        raise InvalidMessage(f"{name} {value} is outside 0..1000000")


@dataclass(frozen=True)
class Marker(ScMessage):
    """Leader → member: "record your state for snapshot ``snapshot`` of group ``group``"."""

    snapshot: int
    group: str


@dataclass(frozen=True)
class State(ScMessage):
    """Member → leader: what it recorded (``sst``: its Sst count; 0: its gateway is not
    counted), and the migrations in its channels."""

    snapshot: int
    group: str
    state: str
    sst: int
    gateway: float
    net_generation: float
    predicted: float
    in_transit: float
    in_transit_count: int
    ev: tuple[float, ...] = ()  # EV charging: capacity, load (kW), trend (kW/s), at; or none

    def check(self, limits: Limits) -> None:
        if len(self.ev) not in (0, 4):
            raise InvalidMessage("the EV figures are capacity, load, trend and time, or none")
        check_state(self.state)
        _count(self.sst, "sst count")
        _count(self.in_transit_count, "in-transit count")


@dataclass(frozen=True)
class CollectedState(ScMessage):
    """Leader → member: snapshot ``snapshot`` as collected, one entry per answering node
    (parallel tuples), the members that did not answer, and how long it took (ms)."""

    snapshot: int
    group: str
    took_ms: float
    nodes: tuple[str, ...]
    states: tuple[str, ...]
    sst: tuple[int, ...]
    gateway: tuple[float, ...]
    net_generation: tuple[float, ...]
    predicted: tuple[float, ...]
    in_transit: tuple[float, ...]
    missing: tuple[str, ...]
    ev_capacity: tuple[float, ...] = ()  # per node, 0: no EV charging there
    ev_load: tuple[float, ...] = ()
    ev_trend: tuple[float, ...] = ()
    ev_at: tuple[float, ...] = ()

    def check(self, limits: Limits) -> None:
        n = len(self.nodes)
        if not 0 < n <= MAX_MEMBERS or len(self.missing) > MAX_MEMBERS:
            raise InvalidMessage(f"a collected state names 1 to {MAX_MEMBERS} nodes")
        columns = (self.states, self.sst, self.gateway, self.net_generation, self.predicted,
                   self.in_transit)  # fmt: skip
        ev = (self.ev_capacity, self.ev_load, self.ev_trend, self.ev_at)
        if any(len(column) != n for column in columns) or any(len(c) not in (0, n) for c in ev):
            raise InvalidMessage(f"every column of a collected state has {n} entries")
        if len(set(self.nodes)) != n:
            raise InvalidMessage("a collected state names a node twice")
        for state in self.states:
            check_state(state)
        if self.took_ms < 0:
            raise InvalidMessage("a collection cannot take negative time")


SC_MESSAGES: tuple[type[Message], ...] = (Marker, State, CollectedState)
