"""A node as the entry of charging requests (pure): each request routed over the group,
answered once a target holds it booked (``docs/ev-charging.md``, "Routing").

The :class:`~controller.ev.router.Router` decides where each request is tried; this carries
its steps out: this node's own substation is asked without a message; another is sent a
``ChargeAsk`` — at most ``WINDOW`` of them on their way to one target, the rest waiting in line
(reserved there already) — and its answer awaited for ``timeout_s``; a held admission is
confirmed; an admission given up is cancelled, again and again until the target says it
released it. A repeated ``ev_id`` joins its request in flight or gets its booking again until
the session ends. A target that let a request time out is asked last for ``fresh_s``.
"""

from __future__ import annotations

import collections
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.effects import Answer, Effect, Send, StartTimer
from controller.ev.messages import (
    ChargeAsk,
    ChargeCancel,
    ChargeConfirm,
    ChargeConfirmed,
    ChargeHeld,
    ChargeRefused,
)
from controller.ev.router import Ask, Booked, Cancel, Full, Router
from controller.ev.rules import RequestError, Session, View, parse_request
from controller.ev.settings import EvSettings
from controller.ev.target import Target, public

#: The asks an entry node has on their way to one target at most; more wait in line (reserved
#: there already), so a burst does not overflow the target's socket buffer.
WINDOW = 64
#: Retry-After when no target said when capacity comes back (seconds).
DEFAULT_RETRY_S = 5.0
CANCEL_BACKOFF_MAX_S = 5.0


@dataclass
class _Pending:
    """A request being routed: the API requests waiting for it, what its target holds."""

    tokens: list[int]
    ev_id: str
    held: Session | None = None
    retry_s: float | None = None


@dataclass
class _Cancelling:
    rid: int
    next_in_s: float
    until: float


@dataclass
class Entry:
    node_id: str
    settings: EvSettings
    local: Target  # this node's own substation
    epoch: int = 0
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
    answered: dict[str, int] = field(default_factory=dict)  # answers by result
    seen_at: float = 0.0  # the time of its last input
    _forget: list[tuple[float, str, str]] = field(default_factory=list)  # when bookings end
    _ids: int = 0

    def __post_init__(self) -> None:
        s = self.settings
        self.router = Router(self.node_id, s.defaults, timeout_s=s.timeout_s,
                             predictive=s.predictive)  # fmt: skip
        self.members = (self.node_id,)

    # -- what it knows of the others --------------------------------------------------------------

    def group(self, members: tuple[str, ...]) -> None:
        """A member not heard of yet is taken for a substation like this one, empty, until its
        figures come (its own admission decides anyway)."""
        self.members = members
        for node in members:
            if node not in self.router.views:
                self.router.see(View(node, self.settings.capacity_kw, 0.0, 0.0, 0.0))

    def see(self, view: View) -> None:
        """A node's figures, from state collection or one of its answers."""
        self.heard[view.node] = self.seen_at
        self.silent.pop(view.node, None)
        self.router.see(view)

    def see_self(self, now: float) -> None:
        self.seen_at = max(self.seen_at, now)
        self.router.see(self.local.view(now))

    def forget(self, now: float) -> None:
        """Bookings whose session is over are no longer answered for their ev_id."""
        while self._forget and self._forget[0][0] <= now:
            _, ev_id, session = heapq.heappop(self._forget)
            self.booked_ids.discard(session)
            known = self.booked.get(ev_id)
            if known is not None and known["session_id"] == session:
                del self.booked[ev_id]

    # -- inputs -----------------------------------------------------------------------------------

    def charge(
        self, token: int, body: Mapping[str, object] | None, now: float, fx: list[Effect]
    ) -> None:
        try:
            request = parse_request(body, self.settings.defaults, self._new_ev_id)
        except RequestError as error:
            self._count("invalid")
            fx.append(Answer(token, 422, {"error": str(error), "field": error.field}))
            return
        known = self.booked.get(request.ev_id)
        if known is not None:
            fx.append(Answer(token, 201, known))
            return
        rid = self.inflight.get(request.ev_id)
        if rid is not None:
            self.pending[rid].tokens.append(token)
            return
        rid, step = self.router.start(request, now, self._up(now))
        self.pending[rid] = _Pending([token], request.ev_id)
        self.inflight[request.ev_id] = rid
        self._step(rid, step, now, fx)

    def held(self, target: str, msg: ChargeHeld, now: float, fx: list[Effect]) -> None:
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

    def refused(self, target: str, msg: ChargeRefused, now: float, fx: list[Effect]) -> None:
        self._answered(target, msg.rid, now, fx)
        self._note_retry(msg.rid, msg.retry_after_s)
        step = self.router.refused(msg.rid, target, now, self._up(now))
        if step is not None:
            self._step(msg.rid, step, now, fx)

    def confirmed(self, target: str, msg: ChargeConfirmed, now: float, fx: list[Effect]) -> None:
        step = self.router.confirmed(msg.rid, target, msg.session, bool(msg.ok), now, self._up(now))
        if isinstance(step, Booked):
            pending = self.pending.get(msg.rid)
            if pending is not None and pending.held is not None:
                self._booked(msg.rid, pending.held, fx)
        elif step is not None:
            self._step(msg.rid, step, now, fx)

    def cancelled(self, target: str, session: str) -> None:
        self.cancelling.pop((target, session), None)

    def route_timer(self, rid: int, now: float, fx: list[Effect]) -> None:
        """No answer from the target within the time-out: give it up, ask the next."""
        route = self.router.routes.get(rid)
        silent = route.asking if route is not None else None
        expired = self.router.expired(rid, now, self._up(now) - {silent})
        if expired is None:
            if route is not None and rid in self.router.routes:  # asked again since
                fx.append(StartTimer(("route", rid), route.asked_at + self.router.timeout_s))
            return
        if silent is not None:  # no other request waits for it while it is silent
            self.silent[silent] = now
            self.heard.pop(silent, None)
            self._answered(silent, rid, now, fx)
            self._reroute(silent, now, fx)
        cancel, step = expired
        if cancel is not None:
            self._start_cancel(cancel, rid, now, fx)
        self._step(rid, step, now, fx)

    def cancel_timer(self, target: str, session: str, now: float, fx: list[Effect]) -> None:
        pending = self.cancelling.get((target, session))
        if pending is None:
            return
        if now >= pending.until:
            del self.cancelling[(target, session)]
            return
        pending.next_in_s = min(CANCEL_BACKOFF_MAX_S, pending.next_in_s * 2)
        fx.append(Send(target, ChargeCancel(pending.rid, session)))
        fx.append(StartTimer(("cancel", target, session), now + pending.next_in_s))

    # -- the router's steps -----------------------------------------------------------------------

    def _step(self, rid: int, step: Ask | Full | None, now: float, fx: list[Effect]) -> None:
        """Carry out the router's next step for ``rid``: ask a target (this node: at once), or
        answer that none can take it."""
        while isinstance(step, Ask) and step.target == self.node_id:
            step = self._ask_self(rid, now, fx)
        if isinstance(step, Full) and self._silent(now):  # the slow ones are better than none
            step = self.router.again(rid, now, self._up(now) | self._silent(now)) or step
            while isinstance(step, Ask) and step.target == self.node_id:
                step = self._ask_self(rid, now, fx)
        if isinstance(step, Ask):
            if len(self.asked.get(step.target, ())) < WINDOW:
                self._send_ask(rid, step.target, now, fx)
            else:  # reserved there already; sent when an earlier ask is answered
                self.queued.setdefault(step.target, collections.deque()).append(rid)
        elif isinstance(step, Full):
            self._full(rid, step, now, fx)

    def _full(self, rid: int, step: Full, now: float, fx: list[Effect]) -> None:
        pending = self.pending.get(rid)
        retry = pending.retry_s if pending and pending.retry_s else DEFAULT_RETRY_S
        if not step.tried:
            retry = min(retry, self.local.admission.retry_after(now))
        seconds = max(1, round(retry))
        tried = ", ".join(step.tried) or "none had the headroom"
        body: dict[str, object] = {
            "error": f"no substation can take the request (tried: {tried})",
            "retry_after_s": seconds,
        }
        self._answer(rid, 503, body, {"Retry-After": str(seconds)}, fx)
        self._count("full")

    def _ask_self(self, rid: int, now: float, fx: list[Effect]) -> Ask | Full | None:
        route = self.router.routes[rid]
        result = self.local.admit(route.request, now, hold=False, started=route.started)
        up = self._up(now)
        if not isinstance(result, Session):
            self._note_retry(rid, result.retry_after_s)
            return self.router.refused(rid, self.node_id, now, up)
        self.router.held(rid, self.node_id, result.id, now)
        done = self.router.confirmed(rid, self.node_id, result.id, True, now, up)
        if result.id not in self.local.confirmed:
            self.local.book(result, fx)
        assert isinstance(done, Booked)
        self._booked(rid, result, fx)
        return None

    def _send_ask(self, rid: int, target: str, now: float, fx: list[Effect]) -> None:
        route = self.router.routes[rid]
        route.asked_at = now  # its answer time-out counts from now, not from a wait in line
        r = route.request
        self.asked.setdefault(target, set()).add(rid)
        fx.append(Send(target, ChargeAsk(rid, r.ev_id, r.power_kw, r.duration_s, route.started)))
        fx.append(StartTimer(("route", rid), now + self.router.timeout_s))

    def _answered(self, target: str, rid: int, now: float, fx: list[Effect]) -> None:
        """``target`` answered (or was given up on for) the ask of ``rid``: its slot goes to
        the next request waiting in line for it."""
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

    def _booked(self, rid: int, session: Session, fx: list[Effect]) -> None:
        body = {**public(session), "entry": self.node_id}
        self.booked[session.ev_id] = body
        self.booked_ids.add(session.id)
        self.router.ends(session.node, session.ends, session.granted_kw)
        heapq.heappush(self._forget, (session.ends, session.ev_id, session.id))
        self._answer(rid, 201, body, {}, fx)
        self._count("booked")

    def _answer(
        self, rid: int, status: int, body: dict[str, object], headers: dict[str, str],
        fx: list[Effect],
    ) -> None:  # fmt: skip
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
            self.local.end(cancel.session, fx)
            return
        route = self.router.routes.get(rid)
        lasts = max(lasts_s, route.request.duration_s if route else 0.0)
        key = (cancel.target, cancel.session)
        self.cancelling[key] = _Cancelling(rid, self.router.timeout_s, now + lasts + 60.0)
        fx.append(Send(cancel.target, ChargeCancel(rid, cancel.session)))
        fx.append(StartTimer(("cancel", *key), now + self.router.timeout_s))

    # -- small things -----------------------------------------------------------------------------

    def _up(self, now: float) -> set[str]:
        """The substations a request may go to: the group, and every node whose charging
        figures came within ``fresh_s`` (a group that flaps under load, or that the topology
        bounds, does not hide a substation that answers) — less the silent ones."""
        fresh = now - self.settings.fresh_s
        up = {*self.members, *(n for n, at in self.heard.items() if at >= fresh)}
        return up - self._silent(now)

    def _silent(self, now: float) -> set[str]:
        """Nodes that let a request time out lately: asked only when nobody else can."""
        fresh = now - self.settings.fresh_s
        return {n for n, at in self.silent.items() if at >= fresh}

    def _new_ev_id(self) -> str:
        self._ids += 1
        return f"ev-{self.node_id}-{self.epoch:x}-{self._ids}"

    def _count(self, result: str) -> None:
        self.answered[result] = self.answered.get(result, 0) + 1
