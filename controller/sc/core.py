"""State collection (module ``sc``, SC phase): the leader's snapshot of its group, sans I/O.

FREEDM's Chandy–Lamport snapshot, restricted to the group, with what the original lacked:

* At the start of each SC phase the leader records its own state and sends a ``Marker`` to
  every member. A member accepts a marker only from its current leader, for its current
  group, records its state (:meth:`StateCollector.source`: the node's last round, and the
  migrations in its channels) and returns it as ``State``.
* The leader resends the marker to members that have not answered every ``resend_s``, and
  completes when every member has answered or at ``timeout_s`` (before the LB phase) with
  the answers it has, naming the missing members — never "not receiving all states back"
  and nothing.
* The leader sends ``CollectedState`` — every answer, not only ``K`` — to every member, which
  accepts it only from its current leader for its current group, and never an older
  snapshot of that group than the one it holds (group ids are unique per leader and boot, so
  a restarted leader's count starts afresh); and hands the same to its own node
  (``StateCollected``). A group of one collects its own state at once.
* A member that answered but has no collected state one resend time after the leader's
  time-out sends its ``State`` again (up to ``retries`` times); the leader answers a state
  for the snapshot it last completed with that collected state, to that member alone.
* A node without an Sst contributes no gateway to ``K`` and erases nothing.

A collected state arrives in the SC phase, before the LB phase begins, so a follower's first
LB round is synchronised like the leader's (FREEDM's followers lost it). Messages that come
late — a member's clock behind the leader's — are still taken in the LB phase (``also``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from config.timings import Timings
from controller.core.collected import Collected, MemberState
from controller.core.effects import (
    BROADCAST,
    CancelTimer,
    Effect,
    Note,
    Send,
    StartTimer,
    StateCollected,
    TimerKey,
)
from controller.core.group import Group
from controller.core.messages import Message
from controller.sc.messages import CollectedState, Marker, State

Handler = Callable[[str, Any, float, list[Effect]], None]


@dataclass(frozen=True)
class ScSettings:
    """How often the leader asks again, and when it stops waiting (seconds)."""

    resend_s: float = 0.02
    timeout_s: float = 0.06
    retries: int = 5

    @classmethod
    def from_timings(cls, t: Timings) -> ScSettings:
        """``CSRC_RESEND_TIME``; the time-out leaves one resend time of the SC phase for the
        collected state to reach the members."""
        resend = max(t.CSRC_RESEND_TIME, 1) / 1000
        return cls(resend, max(resend, t.SC_PHASE_TIME / 1000 - resend))


def _unknown_state() -> MemberState:
    return MemberState("normal", None, 0.0, 0.0)


class StateCollector:
    """One node's state collection: the leader's collector and a member's answers."""

    name = "sc"
    phase = "sc"
    also = ("lb",)  # late markers, answers and collected states are still taken

    def __init__(self, node_id: str, settings: ScSettings, *, epoch: int) -> None:
        self.node_id = node_id
        self.settings = settings
        self.group = Group.of("", node_id, ())
        #: this node's state for a snapshot; the node core sets it (NodeCore.local_state)
        self.source: Callable[[], MemberState] = _unknown_state
        self.base = epoch << 20  # snapshot ids unique per boot (ordered within one)
        self.counter = 0
        # the leader's collection in progress
        self.collecting: int | None = None
        self.started = 0.0
        self.answers: dict[str, MemberState] = {}
        self.expected: frozenset[str] = frozenset()
        # results
        self.last: Collected | None = None
        self.sent: CollectedState | None = None  # the leader's last, for members that ask again
        self.answered: State | None = None  # a member's answer to the current marker
        self.retry = 0
        self.collections = 0  # completed as leader
        self.partial = 0  # of which some member did not answer
        self.dropped: Counter[str] = Counter()
        self.handlers: dict[type[Message], Handler] = {
            Marker: self._on_marker,
            State: self._on_state,
            CollectedState: self._on_collected,
        }

    @property
    def leading(self) -> bool:
        return self.group.leader == self.node_id

    # -- the module -----------------------------------------------------------------------------

    def keeps(self, message: Message, waited_s: float) -> bool:
        return True  # snapshot ids and group ids judge what is late

    def start_phase(self, now: float) -> list[Effect]:
        fx: list[Effect] = []
        if self.leading:
            self._begin(now, fx)
        return fx

    def message(self, sender: str, message: Message, now: float) -> list[Effect]:
        fx: list[Effect] = []
        if sender not in self.group.members:
            self.dropped["not_in_group"] += 1
        else:
            self.handlers[type(message)](sender, message, now, fx)
        return fx

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        fx: list[Effect] = []
        kind, snapshot = str(key[0]), int(key[1])
        if kind == "await":
            self._await(snapshot, now, fx)
            return fx
        if snapshot != self.collecting:
            return fx
        if kind == "resend":
            self._resend(now, fx)
        elif kind == "timeout":
            self._complete(now, fx)
        return fx

    def group_changed(self, group: Group, now: float) -> list[Effect]:
        fx: list[Effect] = []
        before, self.group = self.group, group
        if self.collecting is not None and (group.id != before.id or not self.leading):
            self._note(fx, "sc", f"snapshot {self.collecting} abandoned: the group changed",
                       "debug")  # fmt: skip
            self._stop(fx)
        return fx

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        return []  # this module collects it

    # -- leader ---------------------------------------------------------------------------------

    def _begin(self, now: float, fx: list[Effect]) -> None:
        if self.collecting is not None:
            self._stop(fx)
        self.counter += 1
        snapshot = self.base + self.counter
        self.collecting, self.started = snapshot, now
        self.answers = {self.node_id: self.source()}
        self.expected = frozenset(self.group.peers_of(self.node_id))
        if not self.expected:
            self._complete(now, fx)
            return
        fx.append(Send(BROADCAST, Marker(snapshot, self.group.id)))
        fx.append(StartTimer(("resend", snapshot), now + self.settings.resend_s))
        fx.append(StartTimer(("timeout", snapshot), now + self.settings.timeout_s))

    def _resend(self, now: float, fx: list[Effect]) -> None:
        assert self.collecting is not None
        for member in sorted(self.expected - set(self.answers)):
            fx.append(Send(member, Marker(self.collecting, self.group.id)))
        fx.append(StartTimer(("resend", self.collecting), now + self.settings.resend_s))

    def _on_state(self, sender: str, msg: State, now: float, fx: list[Effect]) -> None:
        sent = self.sent
        if sent is not None and (msg.snapshot, msg.group) == (sent.snapshot, sent.group):
            fx.append(Send(sender, sent))  # it missed the collected state: once more
            return
        if msg.snapshot != self.collecting or msg.group != self.group.id:
            self.dropped["late_state"] += 1
            return
        if sender not in self.expected:
            self.dropped["not_asked"] += 1
            return
        ev = msg.ev or (0.0, 0.0, 0.0, 0.0)
        self.answers[sender] = MemberState(
            msg.state,
            msg.gateway if msg.sst > 0 else None,
            msg.net_generation,
            msg.predicted,
            msg.in_transit,
            msg.in_transit_count,
            *ev,
        )
        if self.expected <= set(self.answers):
            self._complete(now, fx)

    def _complete(self, now: float, fx: list[Effect]) -> None:
        assert self.collecting is not None
        snapshot, answers = self.collecting, dict(self.answers)
        missing = tuple(sorted(self.expected - set(answers)))
        took = now - self.started
        self._stop(fx)
        collected = Collected(snapshot, self.group.id, self.node_id, answers, missing, now, took)
        self.last = collected
        self.collections += 1
        if missing:
            self.partial += 1
            self._note(fx, "sc", f"state collection {snapshot}: no state from "
                       f"{', '.join(missing)} within {took * 1000:.0f} ms; collected "
                       f"{len(answers)} of {len(answers) + len(missing)}", "warning",
                       missing=list(missing))  # fmt: skip
        if self.expected:
            nodes = tuple(sorted(answers))
            column = [answers[n] for n in nodes]
            self.sent = CollectedState(
                snapshot,
                self.group.id,
                took * 1000,
                nodes,
                tuple(m.state for m in column),
                tuple(int(m.gateway is not None) for m in column),
                tuple(m.gateway or 0.0 for m in column),
                tuple(m.net_generation for m in column),
                tuple(m.predicted for m in column),
                tuple(m.in_transit for m in column),
                missing,
                tuple(m.ev_capacity_kw for m in column),
                tuple(m.ev_load_kw for m in column),
                tuple(m.ev_trend for m in column),
                tuple(m.ev_at for m in column),
            )
            fx.append(Send(BROADCAST, self.sent))
        fx.append(StateCollected(collected))

    def _stop(self, fx: list[Effect]) -> None:
        if self.collecting is not None:
            fx.append(CancelTimer(("resend", self.collecting)))
            fx.append(CancelTimer(("timeout", self.collecting)))
        self.collecting = None
        self.answers = {}

    # -- member ---------------------------------------------------------------------------------

    def _from_leader(self, sender: str, group: str) -> bool:
        if sender != self.group.leader or sender == self.node_id:
            self.dropped["not_my_leader"] += 1
            return False
        if group != self.group.id:
            self.dropped["other_group"] += 1
            return False
        return True

    def _on_marker(self, sender: str, msg: Marker, now: float, fx: list[Effect]) -> None:
        if not self._from_leader(sender, msg.group):
            return
        if self.answered is not None and self.answered.snapshot == msg.snapshot:
            fx.append(Send(sender, self.answered))  # a resent marker: the same answer
            return
        mine = self.source()
        self.answered = State(
            msg.snapshot,
            msg.group,
            mine.state,
            int(mine.gateway is not None),
            mine.gateway or 0.0,
            mine.net_generation,
            mine.predicted,
            mine.in_transit,
            mine.in_transit_count,
            (mine.ev_capacity_kw, mine.ev_load_kw, mine.ev_trend, mine.ev_at)
            if mine.ev_capacity_kw > 0
            else (),
        )
        self.retry = 0
        fx.append(Send(sender, self.answered))
        wait = self.settings.timeout_s + self.settings.resend_s
        fx.append(StartTimer(("await", msg.snapshot), now + wait))

    def _await(self, snapshot: int, now: float, fx: list[Effect]) -> None:
        """No collected state for the snapshot this member answered: send the answer again
        (the leader answers with the collected state if it has completed it)."""
        answered, last = self.answered, self.last
        if answered is None or answered.snapshot != snapshot:
            return
        if last is not None and last.snapshot == snapshot:
            return
        if self.retry >= self.settings.retries or self.group.leader == self.node_id:
            return
        self.retry += 1
        fx.append(Send(self.group.leader, answered))
        fx.append(StartTimer(("await", snapshot), now + self.settings.resend_s))

    def _on_collected(self, sender: str, msg: CollectedState, now: float, fx: list[Effect]) -> None:
        if not self._from_leader(sender, msg.group):
            return
        last = self.last
        same = last is not None and (last.leader, last.group_id) == (sender, msg.group)
        if last is not None and same and msg.snapshot <= last.snapshot:
            self.dropped["old_snapshot"] += 1
            return
        n = len(msg.nodes)
        zeros = (0.0,) * n
        ev = [column or zeros for column in (msg.ev_capacity, msg.ev_load, msg.ev_trend,
                                             msg.ev_at)]  # fmt: skip
        members = {
            node: MemberState(state, gateway if sst else None, ng, pg, moving, 0, cap, load,
                              trend, at)
            for node, state, sst, gateway, ng, pg, moving, cap, load, trend, at in zip(
                msg.nodes, msg.states, msg.sst, msg.gateway, msg.net_generation,
                msg.predicted, msg.in_transit, *ev, strict=True,
            )
        }  # fmt: skip
        collected = Collected(
            msg.snapshot, msg.group, sender, members, msg.missing, now, msg.took_ms / 1000
        )
        self.last = collected
        fx.append(StateCollected(collected))

    @staticmethod
    def _note(fx: list[Effect], kind: str, text: str, level: str = "info", **data: object) -> None:
        fx.append(Note(kind, text, data, level))
