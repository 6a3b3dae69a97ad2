"""A substation as the target of charging requests (pure): it admits, holds, books and ends
sessions, and drives its chargers with their sum.

An admission for another node is *held* until that entry node confirms it (released by itself
after ``hold_s`` otherwise); a confirmed session is **booked**: stored (a ``StoreSession``
effect, before the acknowledgement leaves) and counted in what the chargers may draw (a
``ChargeLimit`` effect). A session ends at its time (an ``expire`` timer), early on request, or
when its entry node cancels it — unless the cancel is about an earlier request for the same EV
than the one that holds it now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.effects import ChargeLimit, Effect, Note, Send, StartTimer, StoreSession
from controller.ev.admission import Admission
from controller.ev.messages import (
    ChargeAsk,
    ChargeCancel,
    ChargeCancelled,
    ChargeConfirm,
    ChargeConfirmed,
    ChargeHeld,
    ChargeRefused,
)
from controller.ev.rules import ChargeRequest, Refusal, Session, Trend, View
from controller.ev.settings import EvSettings

#: A target starts a session when the entry reserved it, unless their clocks are this far apart.
MAX_SKEW_S = 5.0


def public(session: Session) -> dict[str, object]:
    """A session as the API shows it."""
    return {
        "session_id": session.id,
        "ev_id": session.ev_id,
        "substation": session.node,
        "granted_kw": session.granted_kw,
        "started": session.started,
        "expected_end": session.ends,
    }


@dataclass
class Target:
    node_id: str
    settings: EvSettings
    epoch: int = 0
    admission: Admission = field(init=False)
    confirmed: set[str] = field(default_factory=set)  # sessions booked here (stored)
    owner: dict[str, tuple[str, int]] = field(default_factory=dict)  # session -> (entry, rid)
    base_kw: float = 0.0
    trend: Trend = field(init=False)
    limit_kw: float | None = None  # the last ChargeLimit
    sessions_total: int = 0  # sessions booked here
    _booked_kw: float = 0.0  # the granted power of the booked sessions
    _expiry_at: float | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.admission = Admission(
            self.node_id, s.capacity_kw, s.defaults, base=self.epoch, hold_s=s.hold_s
        )
        self.trend = Trend(s.trend_tau_s)

    # -- what others read -------------------------------------------------------------------------

    def view(self, now: float) -> View:
        """This substation's charging figures: capacity, load (its sessions, held ones
        included, and its base load when that counts), base-load trend."""
        load = self._base() + self.admission.committed_kw()
        return View(self.node_id, self.settings.capacity_kw, load, self.trend.slope, now)

    def sessions(self) -> list[Session]:
        """The booked sessions (not the admissions still held), oldest first."""
        return sorted(
            (s for s in self.admission.sessions.values() if s.id in self.confirmed),
            key=lambda s: s.started,
        )

    def booked_kw(self) -> float:
        return self._booked_kw

    # -- inputs -----------------------------------------------------------------------------------

    def observe(self, base_kw: float, now: float, fx: list[Effect]) -> None:
        """A round's base load (the substation's drain that is not its chargers')."""
        self.base_kw = max(0.0, base_kw)
        self.trend.add(now, self.base_kw)
        self.expire(now, fx)

    def restore(
        self, stored: Mapping[str, Mapping[str, object]], now: float, fx: list[Effect]
    ) -> None:
        """The sessions the previous process of this node booked: kept, and ended at their
        time — at once for those whose time is over."""
        for session_id, data in stored.items():
            try:
                session = Session.from_data(data)
            except ValueError as error:
                text = f"stored session {session_id} set aside: {error}"
                fx += [Note("ev", text, {}, "warning"), StoreSession(session_id, None)]
                continue
            self.admission.add(session)
            self.confirmed.add(session.id)
            self._booked_kw += session.granted_kw
        if stored:
            text = f"{len(self.confirmed)} charging session(s) taken up from the session store"
            fx.append(Note("ev", text, {"sessions": len(self.confirmed)}))
        self.expire(now, fx)

    def admit(
        self, request: ChargeRequest, now: float, *, hold: bool, started: float | None = None
    ) -> Session | Refusal:
        return self.admission.admit(request, self._base(), now, hold=hold, started=started)

    def asked(self, entry: str, ask: ChargeAsk, now: float, fx: list[Effect]) -> None:
        """Another node's request: held for its confirmation, or refused; either answer
        carries this substation's figures."""
        request = ChargeRequest(ask.ev_id, ask.power_kw, ask.duration_s)
        started = max(now - MAX_SKEW_S, ask.at)  # a clock far off starts it on arrival
        result = self.admit(request, now, hold=True, started=started)
        v = self.view(now)
        if isinstance(result, Session):
            self.owner[result.id] = (entry, ask.rid)
            lasts = max(1e-3, result.ends - result.started)
            held = ChargeHeld(ask.rid, result.id, result.granted_kw, result.started, lasts,
                              v.capacity_kw, v.load_kw, v.trend, now)  # fmt: skip
            fx.append(Send(entry, held))
        else:
            refused = ChargeRefused(ask.rid, result.retry_after_s, v.capacity_kw, v.load_kw,
                                    v.trend, now)  # fmt: skip
            fx.append(Send(entry, refused))
        self._arm_expiry(fx)

    def confirm(self, entry: str, msg: ChargeConfirm, fx: list[Effect]) -> None:
        ok = self.admission.confirm(msg.session)
        if ok and msg.session not in self.confirmed:
            self.book(self.admission.sessions[msg.session], fx)
        if ok:
            self.owner[msg.session] = (entry, msg.rid)
        fx.append(Send(entry, ChargeConfirmed(msg.rid, msg.session, int(ok))))

    def cancel(self, entry: str, msg: ChargeCancel, fx: list[Effect]) -> None:
        """The entry gave this admission up; a cancel of an earlier request for the same EV
        (another ``rid``) leaves the session to the request that holds it now."""
        if self.owner.get(msg.session, (entry, msg.rid)) == (entry, msg.rid):
            self.end(msg.session, fx)
        fx.append(Send(entry, ChargeCancelled(msg.rid, msg.session)))

    def book(self, session: Session, fx: list[Effect]) -> None:
        """A session booked here: stored (before anyone is told), then the chargers. (Held
        for another node's request of the same EV, it is not held any more.)"""
        self.admission.confirm(session.id)
        self.owner[session.id] = (self.node_id, 0)  # its own; a confirmation names the entry
        self.confirmed.add(session.id)
        self._booked_kw += session.granted_kw
        self.sessions_total += 1
        fx.append(StoreSession(session.id, session.to_data()))
        text = f"session {session.id} for {session.ev_id}: {session.granted_kw:g} kW"
        fx.append(Note("ev", text, {"session": session.id, "kw": session.granted_kw}, "debug"))
        self._limit(fx)
        self._arm_expiry(fx)

    def end(self, session_id: str, fx: list[Effect]) -> Session | None:
        """End a session (or release a hold) now; None when there is no such session."""
        session = self.admission.end(session_id, 0.0)
        self.owner.pop(session_id, None)
        if session is not None:
            self._unbook(session, fx)
            self._limit(fx)
        return session

    def expire(self, now: float, fx: list[Effect]) -> None:
        """The sessions whose time is over and the holds never confirmed, ended."""
        for session in self.admission.expire(now):
            self.owner.pop(session.id, None)
            self._unbook(session, fx)
        self._limit(fx)
        self._arm_expiry(fx)

    def expiry_due(self, now: float, fx: list[Effect]) -> None:
        """The ``expire`` timer."""
        self._expiry_at = None
        self.expire(now, fx)

    # -- small things -----------------------------------------------------------------------------

    def _base(self) -> float:
        return self.base_kw if self.settings.count_base_load else 0.0

    def _unbook(self, session: Session, fx: list[Effect]) -> None:
        if session.id in self.confirmed:
            self.confirmed.discard(session.id)
            self._booked_kw = self._booked_kw - session.granted_kw if self.confirmed else 0.0
            fx.append(StoreSession(session.id, None))

    def _arm_expiry(self, fx: list[Effect]) -> None:
        at = self.admission.next_due()
        if at is not None and (self._expiry_at is None or at < self._expiry_at):
            self._expiry_at = at
            fx.append(StartTimer(("expire",), at))

    def _limit(self, fx: list[Effect]) -> None:
        kw = self._booked_kw
        if self.limit_kw is None or abs(kw - self.limit_kw) > 1e-9:
            self.limit_kw = kw
            fx.append(ChargeLimit(kw))
