"""The entry node's routing of charging requests (pure): where each one is tried, in turn.

For each request the entry node asks the substation with the most headroom in its view —
capacity − load − what it has itself reserved there and not heard back about — and reserves
the asked power there at once, so the next request of a burst goes elsewhere, until the
target's answer — which carries its load with the admission in it — replaces the reservation.
A refusal, or no answer within ``timeout_s`` (a target that died mid-request), moves the
request to the next candidate; a target that held an admission the entry no longer wants is
told to cancel it (and releases it by itself at the end of its lease anyway). A held
admission becomes a booking only when the target acknowledges the entry's confirmation
(``confirmed``): a confirmation that gets no acknowledgement within the time-out is given up
— the caller cancels it there, until that target acknowledges the cancel — and the next
candidate asked.
So the client is told "booked" only for a session its substation holds as confirmed, and
:class:`Route` records each step: no EV is booked twice.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace

from controller.ev.rules import ChargeRequest, Defaults, View, headroom, ranked


@dataclass
class Route:
    """One request on its way: the candidates tried, the one asked now."""

    rid: int
    request: ChargeRequest
    started: float
    tried: list[str] = field(default_factory=list)
    asking: str | None = None
    asked_at: float = 0.0
    confirming: str | None = None  # the held session whose confirmation is on its way
    reserved: bool = False  # its power counts in the router's reservation at ``asking``
    booked: str | None = None  # the session id once its target acknowledged it


@dataclass(frozen=True)
class Ask:
    target: str


@dataclass(frozen=True)
class Booked:
    target: str
    session: str


@dataclass(frozen=True)
class Confirm:
    """Send (and resend) the confirmation of ``session`` to ``target``."""

    target: str
    session: str


@dataclass(frozen=True)
class Cancel:
    """Tell ``target`` to release ``session`` (a hold or a confirmation given up on)."""

    target: str
    session: str


@dataclass(frozen=True)
class Full:
    """No substation in view can take it: tried every one, or none has the headroom."""

    tried: tuple[str, ...]


@dataclass
class Router:
    node_id: str
    defaults: Defaults = field(default_factory=Defaults)
    timeout_s: float = 0.5
    predictive: bool = False  # rank by the load predicted over the session, not the load now
    views: dict[str, View] = field(default_factory=dict)
    reserved: dict[str, float] = field(default_factory=dict)
    routes: dict[int, Route] = field(default_factory=dict)
    counter: int = 0
    # sessions this entry booked at another node, by node: (end, kW), soonest first; and those
    # that ended after that node's view was measured — its view still counts them
    ending: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    ended: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def see(self, view: View) -> None:
        """A substation's capacity and load as it last told (its own reservations stay); an
        older view than the one held is ignored."""
        held = self.views.get(view.node)
        if held is None or view.at >= held.at:
            self.views[view.node] = view
            gone = self.ended.get(view.node)
            if gone:
                self.ended[view.node] = [(end, kw) for end, kw in gone if end > view.at]

    def ends(self, node: str, at: float, kw: float) -> None:
        """A session this entry booked at ``node`` ends at ``at``: from then on its power is
        taken off that node's view, until a view measured after it comes."""
        if node != self.node_id:
            heapq.heappush(self.ending.setdefault(node, []), (at, kw))

    def _current(self, node: str, now: float) -> View:
        """A node's view less the sessions this entry knows have ended there since."""
        view = self.views[node]
        due = self.ending.get(node)
        while due and due[0][0] <= now:
            end, kw = heapq.heappop(due)
            if end > view.at:
                self.ended.setdefault(node, []).append((end, kw))
        gone = sum(kw for end, kw in self.ended.get(node, ()) if end > view.at)
        return replace(view, load_kw=view.load_kw - gone) if gone else view

    def start(self, request: ChargeRequest, now: float, up: set[str]) -> tuple[int, Ask | Full]:
        self.counter += 1
        route = Route(self.counter, request, now)
        self.routes[route.rid] = route
        return route.rid, self._next(route, now, up)

    def held(self, rid: int, target: str, session: str, now: float) -> Confirm | Cancel:
        """The target holds an admission: confirm it if it is the one being asked, else
        cancel it (a late answer from a target given up on)."""
        route = self.routes.get(rid)
        if route is None or route.asking != target or route.booked is not None:
            return Cancel(target, session)
        if route.confirming is None:
            route.confirming, route.asked_at = session, now
        self._unreserve(route)  # the target's answer counts it in its load now
        return Confirm(target, route.confirming)

    def confirmed(
        self, rid: int, target: str, session: str, ok: bool, now: float, up: set[str]
    ) -> Booked | Ask | Full | None:
        """The target's answer to the confirmation: booked, or (its hold ran out) the next."""
        route = self.routes.get(rid)
        if route is None or route.asking != target or route.confirming != session:
            return None
        if not ok:
            route.confirming = None
            self._release(route)
            return self._next(route, now, up)
        self._release(route)
        route.booked = session
        return Booked(target, session)

    def refused(self, rid: int, target: str, now: float, up: set[str]) -> Ask | Full | None:
        """The target refused; ignored when it holds an admission for the request already (a
        copy of the ask that it refused before, or after, admitting the other)."""
        route = self.routes.get(rid)
        if route is None or route.asking != target or route.booked is not None:
            return None
        if route.confirming is not None:
            return None
        self._release(route)
        return self._next(route, now, up)

    def expired(
        self, rid: int, now: float, up: set[str]
    ) -> tuple[Cancel | None, Ask | Full] | None:
        """No answer from the target within the time-out: give it up (cancel what it may
        hold) and try the next one."""
        route = self.routes.get(rid)
        if route is None or route.asking is None or route.booked is not None:
            return None
        if now - route.asked_at < self.timeout_s:
            return None
        cancel = None if route.confirming is None else Cancel(route.asking, route.confirming)
        route.confirming = None
        self._release(route)
        return cancel, self._next(route, now, up)

    def again(self, rid: int, now: float, up: set[str]) -> Ask | Full | None:
        """A request that found nobody: try it once more over ``up`` (wider than before)."""
        route = self.routes.get(rid)
        if route is None or route.asking is not None or route.booked is not None:
            return None
        return self._next(route, now, up)

    def done(self, rid: int) -> Route | None:
        route = self.routes.pop(rid, None)
        if route is not None:
            self._release(route)
        return route

    def _release(self, route: Route) -> None:
        self._unreserve(route)
        route.asking = None

    def _unreserve(self, route: Route) -> None:
        if route.asking is not None and route.reserved:
            left = self.reserved.get(route.asking, 0.0) - route.request.power_kw
            self.reserved[route.asking] = max(0.0, left)
        route.reserved = False

    def _next(self, route: Route, now: float, up: set[str]) -> Ask | Full:
        views = {n: self._current(n, now) for n in self.views if n in up or n == self.node_id}
        horizon = route.request.duration_s if self.predictive else 0.0
        order = ranked(views.values(), self.reserved, exclude=route.tried, horizon_s=horizon)
        for target in order:
            room = headroom(views[target], self.reserved.get(target, 0.0), horizon)
            if room + 1e-9 < self.defaults.min_power_kw:
                break  # ranked: nobody after it has more
            route.tried.append(target)
            route.asking, route.asked_at, route.reserved = target, now, True
            self.reserved[target] = self.reserved.get(target, 0.0) + route.request.power_kw
            return Ask(target)
        return Full(tuple(route.tried))
