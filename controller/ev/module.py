"""The node's EV charging module (``ev``): entry node and target substation at once (pure).

As **entry node** it takes a charging request from the API (:meth:`EvModule.charge`), routes
it with the :class:`~controller.ev.router.Router` over its group — itself included, without a
message — and answers the API once a target holds the session as booked, or with 503 and
``Retry-After`` when none can take it. A repeated ``ev_id`` joins the request in flight, or
gets the booking again until the session ends: never a second session.

As **target** it admits atomically against its own capacity
(:class:`~controller.ev.admission.Admission`), holds an admission for another node until that
node confirms it, stores a confirmed session (a ``StoreSession`` effect, before the
acknowledgement leaves) and drives its chargers with the sum of its sessions (``ChargeLimit``).
A session ends at its time (a timer), early on request, or when its entry node cancels it.

Its figures (capacity, load, trend) reach the other members with every state collection
(:meth:`EvModule.view` is this node's column of the snapshot) and with every answer it gives,
so an entry node's view of a target is current after each exchange. The module works in every
phase: a charging request does not wait for the LB phase.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.collected import Collected
from controller.core.effects import (
    Answer,
    ChargeLimit,
    Effect,
    Note,
    Send,
    StartTimer,
    StoreSession,
    TimerKey,
)
from controller.core.group import Group
from controller.core.messages import Message
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
from controller.ev.router import Ask, Booked, Cancel, Full, Router
from controller.ev.rules import (
    ChargeRequest,
    Defaults,
    RequestError,
    Session,
    Trend,
    View,
    parse_request,
)

#: A target starts a session when the entry reserved it, unless their clocks are this far apart.
MAX_SKEW_S = 5.0
#: The asks an entry node has on their way to one target at most; more wait in line (reserved
#: there already), so a burst does not overflow the target's socket buffer.
WINDOW = 64
#: Retry-After when no target said when capacity comes back (seconds).
DEFAULT_RETRY_S = 5.0
CANCEL_BACKOFF_MAX_S = 5.0


@dataclass(frozen=True)
class EvSettings:
    """The site's ``[ev]`` settings and this node's charging capacity."""

    capacity_kw: float
    defaults: Defaults = field(default_factory=Defaults)
    hold_s: float = 5.0  # how long a target holds an admission for its entry's confirmation
    timeout_s: float = 2.0  # an entry node's wait for a target's answer
    count_base_load: bool = False  # the substation's other load counts against the capacity
    fresh_s: float = 10.0  # a node heard from this recently is a candidate, in the group or not
    predictive: bool = False  # route by the load predicted over the session
    trend_tau_s: float = 60.0


@dataclass
class _Pending:
    """A request being routed: the API requests waiting for it, what its target holds."""

    tokens: list[int]
    ev_id: str
    held: Session | None = None  # what its target holds for it
    retry_s: float | None = None


@dataclass
class _Cancelling:
    rid: int
    next_in_s: float
    until: float


@dataclass
class EvModule:
    node_id: str
    settings: EvSettings
    epoch: int = 0
    admission: Admission = field(init=False)
    router: Router = field(init=False)
    members: tuple[str, ...] = ()
    heard: dict[str, float] = field(default_factory=dict)  # node -> when its figures came
    silent: dict[str, float] = field(default_factory=dict)  # node -> when it failed to answer
    asked: dict[str, set[int]] = field(default_factory=dict)  # target -> asks awaiting answer
    queued: dict[str, collections.deque[int]] = field(default_factory=dict)  # waiting to ask
    pending: dict[int, _Pending] = field(default_factory=dict)  # rid -> its waiters
    inflight: dict[str, int] = field(default_factory=dict)  # ev_id -> rid
    booked: dict[str, dict[str, object]] = field(default_factory=dict)  # ev_id -> answer
    booked_ids: set[str] = field(default_factory=set)  # the sessions of those answers
    cancelling: dict[tuple[str, str], _Cancelling] = field(default_factory=dict)
    confirmed: set[str] = field(default_factory=set)  # sessions booked here (stored)
    owner: dict[str, tuple[str, int]] = field(default_factory=dict)  # session -> (entry, rid)
    base_kw: float = 0.0
    trend: Trend = field(init=False)
    limit_kw: float | None = None  # the last ChargeLimit
    answered: dict[str, int] = field(default_factory=dict)  # entry answers by result
    sessions_total: int = 0  # sessions booked here
    seen_at: float = 0.0  # the time of its last input: what its view is as of
    _booked_kw: float = 0.0  # the granted power of the booked sessions
    _forget: list[tuple[float, str, str]] = field(default_factory=list)  # when booked ends
    _ids: int = 0
    _expiry_at: float | None = None

    def __post_init__(self) -> None:
        s = self.settings
        self.admission = Admission(
            self.node_id, s.capacity_kw, s.defaults, base=self.epoch, hold_s=s.hold_s
        )
        self.router = Router(
            self.node_id, s.defaults, timeout_s=s.timeout_s, predictive=s.predictive
        )
        self.trend = Trend(s.trend_tau_s)
        self.members = (self.node_id,)

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
        """A member not heard of yet is taken for a substation like this one, empty, until its
        figures come (its own admission decides anyway): a request right after the group
        formed is not kept from it."""
        self.members = group.members
        for node in group.members:
            if node not in self.router.views:
                self.router.see(View(node, self.settings.capacity_kw, 0.0, 0.0, 0.0))
        return []

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        for node, member in collected.members.items():
            if node != self.node_id and member.ev_capacity_kw > 0:
                self.heard[node] = now
                self.silent.pop(node, None)
                self.router.see(
                    View(
                        node,
                        member.ev_capacity_kw,
                        member.ev_load_kw,
                        member.ev_trend,
                        member.ev_at,
                    )
                )
        return []

    def message(self, sender: str, message: Message, now: float) -> list[Effect]:
        self._see_self(now)
        fx: list[Effect] = []
        if isinstance(message, ChargeAsk):
            self._asked(sender, message, now, fx)
        elif isinstance(message, ChargeConfirm):
            self._confirm(sender, message, now, fx)
        elif isinstance(message, ChargeCancel):
            self._cancel(sender, message, now, fx)
        elif isinstance(message, ChargeHeld):
            self._see(sender, message.capacity_kw, message.load_kw, message.trend, message.at)
            self._held(sender, message, now, fx)
        elif isinstance(message, ChargeRefused):
            self._see(sender, message.capacity_kw, message.load_kw, message.trend, message.at)
            self._refused(sender, message, now, fx)
        elif isinstance(message, ChargeConfirmed):
            self._confirmed(sender, message, now, fx)
        elif isinstance(message, ChargeCancelled):
            self.cancelling.pop((sender, message.session), None)
        return fx

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        self._see_self(now)
        fx: list[Effect] = []
        if key[0] == "route":
            rid = int(key[1])
            route = self.router.routes.get(rid)
            silent = route.asking if route is not None else None
            expired = self.router.expired(rid, now, self._up(now) - {silent})
            if expired is not None:
                if silent is not None:  # no other request waits for it while it is silent
                    self.silent[silent] = now
                    self.heard.pop(silent, None)
                    self._answered(silent, rid, now, fx)
                    self._reroute(silent, now, fx)
                cancel, step = expired
                if cancel is not None:
                    self._start_cancel(cancel, rid, now, fx)
                self._step(rid, step, now, fx)
            elif rid in self.router.routes:  # asked again since: wait for that answer
                route = self.router.routes[rid]
                fx.append(StartTimer(("route", rid), route.asked_at + self.router.timeout_s))
        elif key[0] == "cancel":
            self._resend_cancel(str(key[1]), str(key[2]), now, fx)
        elif key[0] == "expire":
            self._expiry_at = None
            self._expire(now, fx)
        return fx

    # -- inputs from the runtime ------------------------------------------------------------------

    def observe(self, base_kw: float, now: float) -> list[Effect]:
        """A round's base load (the substation's drain that is not its chargers')."""
        self.base_kw = max(0.0, base_kw)
        self.trend.add(now, self.base_kw)
        self._see_self(now)
        while self._forget and self._forget[0][0] <= now:
            _, ev_id, session = heapq.heappop(self._forget)
            self.booked_ids.discard(session)
            known = self.booked.get(ev_id)
            if known is not None and known["session_id"] == session:
                del self.booked[ev_id]
        fx: list[Effect] = []
        self._expire(now, fx)
        return fx

    def restore(self, stored: Mapping[str, Mapping[str, object]], now: float) -> list[Effect]:
        """The sessions the previous process of this node booked (its session store): kept,
        and ended at their time — at once for those whose time is over."""
        fx: list[Effect] = []
        for session_id, data in stored.items():
            try:
                session = Session.from_data(data)
            except ValueError as error:
                fx.append(
                    Note("ev", f"stored session {session_id} set aside: {error}", {}, "warning")
                )
                fx.append(StoreSession(session_id, None))
                continue
            self.admission.add(session)
            self.confirmed.add(session.id)
            self._booked_kw += session.granted_kw
        if stored:
            text = f"{len(self.confirmed)} charging session(s) taken up from the session store"
            fx.append(Note("ev", text, {"sessions": len(self.confirmed)}))
        self._expire(now, fx)
        return fx

    def charge(self, token: int, body: Mapping[str, object] | None, now: float) -> list[Effect]:
        """A charging request from the API; answered by an ``Answer`` for ``token``."""
        self._see_self(now)
        fx: list[Effect] = []
        try:
            request = parse_request(body, self.settings.defaults, self._new_ev_id)
        except RequestError as error:
            self._count("invalid")
            fx.append(Answer(token, 422, {"error": str(error), "field": error.field}))
            return fx
        known = self.booked.get(request.ev_id)
        if known is not None:
            fx.append(Answer(token, 201, known))
            return fx
        rid = self.inflight.get(request.ev_id)
        if rid is not None:
            self.pending[rid].tokens.append(token)
            return fx
        rid, step = self.router.start(request, now, self._up(now))
        self.pending[rid] = _Pending([token], request.ev_id)
        self.inflight[request.ev_id] = rid
        self._step(rid, step, now, fx)
        return fx

    def end_session(self, token: int, session_id: str, now: float) -> list[Effect]:
        """End a session of this substation early (``DELETE /api/v1/sessions/{id}``)."""
        fx: list[Effect] = []
        if session_id not in self.confirmed:
            fx.append(Answer(token, 404, {"error": f"no session {session_id} at {self.node_id}"}))
            return fx
        session = self._end(session_id, fx)
        assert session is not None
        fx.append(Answer(token, 200, {**self._public(session), "ended": now}))
        self._limit(fx)
        return fx

    # -- what others read -------------------------------------------------------------------------

    def view(self, now: float) -> View:
        """This node's charging figures: capacity, load (its sessions, held ones included, and
        its base load when that counts), base-load trend."""
        base = self.base_kw if self.settings.count_base_load else 0.0
        load = base + self.admission.committed_kw()
        return View(self.node_id, self.settings.capacity_kw, load, self.trend.slope, now)

    def sessions(self) -> list[Session]:
        """The booked sessions of this substation (not the admissions still held)."""
        return sorted(
            (s for s in self.admission.sessions.values() if s.id in self.confirmed),
            key=lambda s: s.started,
        )

    def booked_kw(self) -> float:
        return self._booked_kw

    # -- as target --------------------------------------------------------------------------------

    def _asked(self, entry: str, ask: ChargeAsk, now: float, fx: list[Effect]) -> None:
        request = ChargeRequest(ask.ev_id, ask.power_kw, ask.duration_s)
        started = max(now - MAX_SKEW_S, ask.at)  # a clock far off starts it on arrival
        result = self._admit(request, now, hold=True, started=started)
        v = self.view(now)
        if isinstance(result, Session):
            self.owner[result.id] = (entry, ask.rid)
            fx.append(
                Send(
                    entry,
                    ChargeHeld(
                        ask.rid,
                        result.id,
                        result.granted_kw,
                        result.started,
                        max(1e-3, result.ends - result.started),
                        v.capacity_kw,
                        v.load_kw,
                        v.trend,
                        now,
                    ),
                )
            )
        else:
            fx.append(
                Send(
                    entry,
                    ChargeRefused(
                        ask.rid, result.retry_after_s, v.capacity_kw, v.load_kw, v.trend, now
                    ),
                )
            )
        self._arm_expiry(fx)

    def _admit(
        self, request: ChargeRequest, now: float, *, hold: bool, started: float | None = None
    ) -> Session | _Refused:
        base = self.base_kw if self.settings.count_base_load else 0.0
        result = self.admission.admit(request, base, now, hold=hold, started=started)
        if isinstance(result, Session):
            return result
        return _Refused(result.reason, result.retry_after_s)

    def _confirm(self, entry: str, msg: ChargeConfirm, now: float, fx: list[Effect]) -> None:
        ok = self.admission.confirm(msg.session)
        if ok and msg.session not in self.confirmed:
            self._book(self.admission.sessions[msg.session], fx)
        if ok:
            self.owner[msg.session] = (entry, msg.rid)
        fx.append(Send(entry, ChargeConfirmed(msg.rid, msg.session, int(ok))))

    def _book(self, session: Session, fx: list[Effect]) -> None:
        """A session booked here: stored (before anyone is told), then the chargers."""
        self.confirmed.add(session.id)
        self._booked_kw += session.granted_kw
        self.sessions_total += 1
        fx.append(StoreSession(session.id, session.to_data()))
        text = f"session {session.id} for {session.ev_id}: {session.granted_kw:g} kW"
        fx.append(Note("ev", text, {"session": session.id, "kw": session.granted_kw}, "debug"))
        self._limit(fx)
        self._arm_expiry(fx)

    def _cancel(self, entry: str, msg: ChargeCancel, now: float, fx: list[Effect]) -> None:
        """The entry gave this admission up; a cancel of an earlier request for the same EV
        (another ``rid``) leaves the session to the request that holds it now."""
        mine = self.owner.get(msg.session, (entry, msg.rid)) == (entry, msg.rid)
        if mine and self._end(msg.session, fx) is not None:
            self._limit(fx)
        fx.append(Send(entry, ChargeCancelled(msg.rid, msg.session)))

    def _end(self, session_id: str, fx: list[Effect]) -> Session | None:
        session = self.admission.end(session_id, 0.0)
        self.owner.pop(session_id, None)
        if session is not None:
            self._unbook(session, fx)
        return session

    def _unbook(self, session: Session, fx: list[Effect]) -> None:
        if session.id in self.confirmed:
            self.confirmed.discard(session.id)
            self._booked_kw = self._booked_kw - session.granted_kw if self.confirmed else 0.0
            fx.append(StoreSession(session.id, None))

    def _expire(self, now: float, fx: list[Effect]) -> None:
        over = self.admission.expire(now)
        for session in over:
            self.owner.pop(session.id, None)
            self._unbook(session, fx)
        self._limit(fx)
        self._arm_expiry(fx)

    def _arm_expiry(self, fx: list[Effect]) -> None:
        at = self.admission.next_due()
        if at is None:
            return
        if self._expiry_at is None or at < self._expiry_at:
            self._expiry_at = at
            fx.append(StartTimer(("expire",), at))

    def _limit(self, fx: list[Effect]) -> None:
        kw = self.booked_kw()
        if self.limit_kw is None or abs(kw - self.limit_kw) > 1e-9:
            self.limit_kw = kw
            fx.append(ChargeLimit(kw))

    # -- as entry node ----------------------------------------------------------------------------

    def _step(self, rid: int, step: Ask | Full | None, now: float, fx: list[Effect]) -> None:
        """Carry out the router's next step for ``rid``: ask a target (this node: at once), or
        answer that none can take it."""
        while isinstance(step, Ask) and step.target == self.node_id:
            step = self._ask_self(rid, now, fx)
        if isinstance(step, Full) and self._silent(now):  # the slow ones are better than none
            again = self.router.again(rid, now, self._up(now) | self._silent(now))
            step = again or step
            while isinstance(step, Ask) and step.target == self.node_id:
                step = self._ask_self(rid, now, fx)
        if isinstance(step, Ask):
            if len(self.asked.get(step.target, ())) < WINDOW:
                self._send_ask(rid, step.target, now, fx)
            else:  # reserved there already; sent when an earlier ask is answered
                self.queued.setdefault(step.target, collections.deque()).append(rid)
        elif isinstance(step, Full):
            pending = self.pending.get(rid)
            retry = pending.retry_s if pending and pending.retry_s else DEFAULT_RETRY_S
            if not step.tried:
                retry = min(retry, self.admission.retry_after(now))
            seconds = max(1, round(retry))
            tried = ", ".join(step.tried) or "none had the headroom"
            self._answer(
                rid,
                503,
                {
                    "error": f"no substation can take the request (tried: {tried})",
                    "retry_after_s": seconds,
                },
                {"Retry-After": str(seconds)},
                fx,
            )
            self._count("full")

    def _send_ask(self, rid: int, target: str, now: float, fx: list[Effect]) -> None:
        route = self.router.routes[rid]
        route.asked_at = now  # its answer time-out counts from now, not from a wait in line
        r = route.request
        self.asked.setdefault(target, set()).add(rid)
        fx.append(Send(target, ChargeAsk(rid, r.ev_id, r.power_kw, r.duration_s, route.started)))
        fx.append(StartTimer(("route", rid), now + self.router.timeout_s))

    def _answered(self, target: str, rid: int, now: float, fx: list[Effect]) -> None:
        """``target`` answered (or gave up on) the ask of ``rid``: its slot goes to the next
        request waiting in line for it."""
        asked = self.asked.get(target)
        if asked is None or rid not in asked:
            return
        asked.discard(rid)
        line = self.queued.get(target)
        while line and len(asked) < WINDOW:
            waiting = line.popleft()
            route = self.router.routes.get(waiting)
            if route is not None and route.asking == target and route.booked is None:
                self._send_ask(waiting, target, now, fx)

    def _reroute(self, target: str, now: float, fx: list[Effect]) -> None:
        """The requests waiting in line for a target that went silent go elsewhere now."""
        for waiting in self.queued.pop(target, ()):
            step = self.router.refused(waiting, target, now, self._up(now))
            if step is not None:
                self._step(waiting, step, now, fx)

    def _ask_self(self, rid: int, now: float, fx: list[Effect]) -> Ask | Full | None:
        request = self.router.routes[rid].request
        result = self._admit(request, now, hold=False, started=self.router.routes[rid].started)
        up = self._up(now)
        if isinstance(result, _Refused):
            self._note_retry(rid, result.retry_after_s)
            return self.router.refused(rid, self.node_id, now, up)
        self.router.held(rid, self.node_id, result.id, now)
        done = self.router.confirmed(rid, self.node_id, result.id, True, now, up)
        if result.id not in self.confirmed:
            self._book(result, fx)
        assert isinstance(done, Booked)
        self._booked(rid, result, fx)
        return None

    def _held(self, target: str, msg: ChargeHeld, now: float, fx: list[Effect]) -> None:
        self._answered(target, msg.rid, now, fx)
        step = self.router.held(msg.rid, target, msg.session, now)
        if isinstance(step, Cancel):
            if msg.session not in self.booked_ids:  # a late copy of a booking's answer: keep it
                self._start_cancel(step, msg.rid, now, fx, lasts_s=msg.lasts_s)
            return
        pending = self.pending.get(msg.rid)
        if pending is not None:
            ends = msg.started + msg.lasts_s
            pending.held = Session(
                msg.session, pending.ev_id, target, msg.granted_kw, msg.started, ends
            )
        fx.append(Send(target, ChargeConfirm(msg.rid, step.session)))
        fx.append(StartTimer(("route", msg.rid), now + self.router.timeout_s))

    def _refused(self, target: str, msg: ChargeRefused, now: float, fx: list[Effect]) -> None:
        self._answered(target, msg.rid, now, fx)
        self._note_retry(msg.rid, msg.retry_after_s)
        step = self.router.refused(msg.rid, target, now, self._up(now))
        if step is not None:
            self._step(msg.rid, step, now, fx)

    def _confirmed(self, target: str, msg: ChargeConfirmed, now: float, fx: list[Effect]) -> None:
        step = self.router.confirmed(msg.rid, target, msg.session, bool(msg.ok), now, self._up(now))
        if isinstance(step, Booked):
            pending = self.pending.get(msg.rid)
            if pending is not None and pending.held is not None:
                self._booked(msg.rid, pending.held, fx)
        elif step is not None:
            self._step(msg.rid, step, now, fx)

    def _booked(self, rid: int, session: Session, fx: list[Effect]) -> None:
        body = {**self._public(session), "entry": self.node_id}
        self.booked[session.ev_id] = body
        self.booked_ids.add(session.id)
        self.router.ends(session.node, session.ends, session.granted_kw)
        heapq.heappush(self._forget, (session.ends, session.ev_id, session.id))
        self._answer(rid, 201, body, {}, fx)
        self._count("booked")

    def _answer(
        self,
        rid: int,
        status: int,
        body: dict[str, object],
        headers: dict[str, str],
        fx: list[Effect],
    ) -> None:
        pending = self.pending.pop(rid, None)
        self.router.done(rid)
        if pending is None:
            return
        self.inflight.pop(pending.ev_id, None)
        fx += [Answer(token, status, body, headers) for token in pending.tokens]

    def _note_retry(self, rid: int, seconds: float) -> None:
        pending = self.pending.get(rid)
        if pending is not None:
            pending.retry_s = seconds if pending.retry_s is None else min(pending.retry_s, seconds)

    def _start_cancel(
        self, cancel: Cancel, rid: int, now: float, fx: list[Effect], *, lasts_s: float = 0.0
    ) -> None:
        """Tell the target to release ``cancel.session``, again and again until it says it
        did — or until the session would have ended anyway."""
        if cancel.target == self.node_id:
            if self._end(cancel.session, fx) is not None:
                self._limit(fx)
            return
        route = self.router.routes.get(rid)
        lasts = max(lasts_s, route.request.duration_s if route else 0.0)
        key = (cancel.target, cancel.session)
        self.cancelling[key] = _Cancelling(rid, self.router.timeout_s, now + lasts + 60.0)
        fx.append(Send(cancel.target, ChargeCancel(rid, cancel.session)))
        fx.append(StartTimer(("cancel", *key), now + self.router.timeout_s))

    def _resend_cancel(self, target: str, session: str, now: float, fx: list[Effect]) -> None:
        pending = self.cancelling.get((target, session))
        if pending is None:
            return
        if now >= pending.until:
            del self.cancelling[(target, session)]
            return
        pending.next_in_s = min(CANCEL_BACKOFF_MAX_S, pending.next_in_s * 2)
        fx.append(Send(target, ChargeCancel(pending.rid, session)))
        fx.append(StartTimer(("cancel", target, session), now + pending.next_in_s))

    # -- small things -----------------------------------------------------------------------------

    def _up(self, now: float) -> set[str]:
        """The substations a request may go to: the group, and every node whose charging
        figures came within ``fresh_s`` (a group that flaps under load, or that the topology
        bounds, does not hide a substation that answers)."""
        fresh = now - self.settings.fresh_s
        up = {*self.members, *(n for n, at in self.heard.items() if at >= fresh)}
        return up - self._silent(now)

    def _silent(self, now: float) -> set[str]:
        """Nodes that let a request time out lately: asked only when nobody else can."""
        fresh = now - self.settings.fresh_s
        return {n for n, at in self.silent.items() if at >= fresh}

    def _see_self(self, now: float) -> None:
        self.seen_at = max(self.seen_at, now)
        self.router.see(self.view(now))

    def _see(self, node: str, capacity: float, load: float, trend: float, at: float) -> None:
        self.heard[node] = self.seen_at
        self.silent.pop(node, None)
        self.router.see(View(node, capacity, load, trend, at))

    def _new_ev_id(self) -> str:
        self._ids += 1
        return f"ev-{self.node_id}-{self.epoch:x}-{self._ids}"

    def _count(self, result: str) -> None:
        self.answered[result] = self.answered.get(result, 0) + 1

    @staticmethod
    def _public(session: Session) -> dict[str, object]:
        return {
            "session_id": session.id,
            "ev_id": session.ev_id,
            "substation": session.node,
            "granted_kw": session.granted_kw,
            "started": session.started,
            "expected_end": session.ends,
        }

    def public(self, session: Session) -> dict[str, object]:
        return self._public(session)


@dataclass(frozen=True)
class _Refused:
    reason: str
    retry_after_s: float
