"""The node's EV charging module (``ev``): entry node and target substation at once (pure).

As **entry node** (:class:`~controller.ev.entry.Entry`) it takes a charging request from the
API (:meth:`EvModule.charge`), routes it over its group — its own substation included, without
a message — and answers the API once a target holds the session booked, or with 503 and
``Retry-After`` when none can take it. As **target** (:class:`~controller.ev.target.Target`)
it admits atomically against its own capacity, holds an admission for another node until that
node confirms it, stores a booked session (``StoreSession``, before the acknowledgement
leaves) and drives its chargers with the sum of its sessions (``ChargeLimit``).

Its figures (capacity, load, trend) reach the other members with every state collection
(:meth:`EvModule.view` is this node's column of the snapshot) and with every answer it gives,
so an entry node's view of a target is current after each exchange. The module works in every
phase: a charging request does not wait for the LB phase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.collected import Collected
from controller.core.effects import Answer, Effect, TimerKey
from controller.core.group import Group
from controller.core.messages import Message
from controller.ev.admission import Admission
from controller.ev.entry import Entry
from controller.ev.messages import (
    ChargeAsk,
    ChargeCancel,
    ChargeCancelled,
    ChargeConfirm,
    ChargeConfirmed,
    ChargeHeld,
    ChargeRefused,
)
from controller.ev.rules import Session, View
from controller.ev.settings import EvSettings
from controller.ev.target import Target, public


@dataclass
class EvModule:
    node_id: str
    settings: EvSettings
    epoch: int = 0
    target: Target = field(init=False)
    entry: Entry = field(init=False)

    def __post_init__(self) -> None:
        self.target = Target(self.node_id, self.settings, self.epoch)
        self.entry = Entry(self.node_id, self.settings, self.target, self.epoch)

    # -- the module protocol (controller.core.module) ---------------------------------------------

    @property
    def name(self) -> str:
        return "ev"

    @property
    def phase(self) -> str:
        return "lb"

    @property
    def also(self) -> tuple[str, ...]:
        return ("gm", "sc")  # every phase: a charging request never waits for one

    def start_phase(self, now: float) -> list[Effect]:
        return []

    def keeps(self, message: Message, waited_s: float) -> bool:
        return True

    def group_changed(self, group: Group, now: float) -> list[Effect]:
        self.entry.group(group.members)
        return []

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        self.entry.seen_at = max(self.entry.seen_at, now)
        for node, m in collected.members.items():
            if node != self.node_id and m.ev_capacity_kw > 0:
                self.entry.see(View(node, m.ev_capacity_kw, m.ev_load_kw, m.ev_trend, m.ev_at))
        return []

    def message(self, sender: str, message: Message, now: float) -> list[Effect]:
        self.entry.see_self(now)
        fx: list[Effect] = []
        if isinstance(message, ChargeAsk):
            self.target.asked(sender, message, now, fx)
        elif isinstance(message, ChargeConfirm):
            self.target.confirm(sender, message, fx)
        elif isinstance(message, ChargeCancel):
            self.target.cancel(sender, message, fx)
        elif isinstance(message, ChargeHeld | ChargeRefused):
            m = message
            self.entry.see(View(sender, m.capacity_kw, m.load_kw, m.trend, m.at))
            if isinstance(m, ChargeHeld):
                self.entry.held(sender, m, now, fx)
            else:
                self.entry.refused(sender, m, now, fx)
        elif isinstance(message, ChargeConfirmed):
            self.entry.confirmed(sender, message, now, fx)
        elif isinstance(message, ChargeCancelled):
            self.entry.cancelled(sender, message.session)
        return fx

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        self.entry.see_self(now)
        fx: list[Effect] = []
        if key[0] == "route":
            self.entry.route_timer(int(key[1]), now, fx)
        elif key[0] == "cancel":
            self.entry.cancel_timer(str(key[1]), str(key[2]), now, fx)
        elif key[0] == "expire":
            self.target.expiry_due(now, fx)
        return fx

    # -- inputs from the runtime ------------------------------------------------------------------

    def observe(self, base_kw: float, now: float) -> list[Effect]:
        """A round's base load (the substation's drain that is not its chargers')."""
        fx: list[Effect] = []
        self.target.observe(base_kw, now, fx)
        self.entry.see_self(now)
        self.entry.forget(now)
        return fx

    def restore(self, stored: Mapping[str, Mapping[str, object]], now: float) -> list[Effect]:
        """The sessions the previous process of this node booked (its session store)."""
        fx: list[Effect] = []
        self.target.restore(stored, now, fx)
        return fx

    def charge(self, token: int, body: Mapping[str, object] | None, now: float) -> list[Effect]:
        """A charging request from the API; answered by an ``Answer`` for ``token``."""
        self.entry.see_self(now)
        fx: list[Effect] = []
        self.entry.charge(token, body, now, fx)
        return fx

    def end_session(self, token: int, session_id: str, now: float) -> list[Effect]:
        """End a session of this substation early (``DELETE /api/v1/sessions/{id}``)."""
        fx: list[Effect] = []
        session = self.target.end(session_id, fx) if session_id in self.target.confirmed else None
        if session is None:
            text = f"no session {session_id} at {self.node_id}"
            holder = session_id.rsplit("-", 2)[0] if session_id.count("-") >= 2 else None
            if holder and holder != self.node_id:
                text += f" (a session is ended at the substation that holds it: {holder})"
            fx.append(Answer(token, 404, {"error": text}))
        else:
            fx.append(Answer(token, 200, {**public(session), "ended": now}))
        return fx

    # -- what others read -------------------------------------------------------------------------

    @property
    def seen_at(self) -> float:
        """The time of its last input: what its view is as of."""
        return self.entry.seen_at

    def view(self, now: float) -> View:
        return self.target.view(now)

    def sessions(self) -> list[Session]:
        return self.target.sessions()

    def booked_kw(self) -> float:
        return self.target.booked_kw()

    @property
    def admission(self) -> Admission:
        return self.target.admission

    @property
    def confirmed(self) -> set[str]:
        return self.target.confirmed

    @property
    def sessions_total(self) -> int:
        return self.target.sessions_total

    @property
    def answered(self) -> dict[str, int]:
        return self.entry.answered

    @staticmethod
    def public(session: Session) -> dict[str, object]:
        return public(session)
