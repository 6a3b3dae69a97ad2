"""A substation's admission of charging sessions (pure): exact, whatever the concurrency.

The node core is one thread of control, so each ``admit`` sees every session admitted before
it: the sum of the granted power of the active sessions plus the substation's other load
never exceeds its capacity. A repeated ``ev_id`` gets its session again, never a second one.
Sessions end by themselves at their end time (``expire``) or early (``end``); either frees
their power at once. A session admitted for another node's request is *held* until that entry
node confirms it (``confirm``); one not confirmed within ``hold_s`` is released by itself, so
an entry node that gave up on this node and booked the EV elsewhere leaves nothing behind.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from controller.ev.rules import ChargeRequest, Defaults, Refusal, Session, grant

#: Retry-After when no session will end soon (seconds).
RETRY_AFTER_S = 30.0


@dataclass
class Admission:
    node: str
    capacity_kw: float
    defaults: Defaults = field(default_factory=Defaults)
    base: int = 0  # session ids are node-base-counter: unique per node and boot
    sessions: dict[str, Session] = field(default_factory=dict)
    by_ev: dict[str, str] = field(default_factory=dict)
    counter: int = 0
    admitted: int = 0
    refused: int = 0
    hold_s: float = 2.0
    held: dict[str, float] = field(default_factory=dict)  # session id -> end of its lease
    # what is due when, soonest first (entries of sessions ended early are skipped): so a
    # request costs O(log n) however many sessions run
    _due: list[tuple[float, str]] = field(default_factory=list)
    _committed: float = 0.0

    def committed_kw(self) -> float:
        return self._committed

    def free_kw(self, other_load_kw: float) -> float:
        return self.capacity_kw - max(0.0, other_load_kw) - self._committed

    def admit(
        self,
        request: ChargeRequest,
        other_load_kw: float,
        now: float,
        *,
        hold: bool = False,
        started: float | None = None,
    ) -> Session | Refusal:
        """Take the request or refuse it, against the capacity left now. ``other_load_kw``
        is the substation's load that is not these sessions' (its base load); ``hold``: for
        another node's request, released unless confirmed within ``hold_s``; ``started``:
        when the session starts (the entry node's reservation; at most ``now``)."""
        self.expire(now)
        existing = self.by_ev.get(request.ev_id)
        if existing is not None:
            return self.sessions[existing]
        granted = grant(request, self.free_kw(other_load_kw), self.defaults)
        if granted is None:
            self.refused += 1
            return Refusal(
                f"{self.node} has {max(0.0, self.free_kw(other_load_kw)):.1f} kW free of "
                f"{self.capacity_kw:g} kW",
                self.retry_after(now),
            )
        self.counter += 1
        start = now if started is None else min(now, started)
        session = Session(
            f"{self.node}-{self.base}-{self.counter}",
            request.ev_id,
            self.node,
            granted,
            start,
            start + request.duration_s,  # a partial grant delivers less in the same time
        )
        self.add(session)
        if hold:
            self.held[session.id] = now + self.hold_s
            heapq.heappush(self._due, (now + self.hold_s, session.id))
        self.admitted += 1
        return session

    def add(self, session: Session) -> None:
        """A session that runs here (admitted, or taken up after a restart)."""
        self.sessions[session.id] = session
        self.by_ev[session.ev_id] = session.id
        self._committed += session.granted_kw
        heapq.heappush(self._due, (session.ends, session.id))

    def confirm(self, session_id: str) -> bool:
        """The entry node booked it: no longer held. False when it was released already."""
        if session_id not in self.sessions:
            return False
        self.held.pop(session_id, None)
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until the next session ends (when capacity comes back), bounded."""
        soonest = self.next_due()
        ahead = RETRY_AFTER_S if soonest is None else soonest - now
        return max(1.0, min(RETRY_AFTER_S, ahead))

    def next_due(self) -> float | None:
        """When the next session ends or hold runs out (None: nothing runs)."""
        due = self._due
        while due and not self._current(*due[0]):
            heapq.heappop(due)
        return due[0][0] if due else None

    def _current(self, at: float, session_id: str) -> bool:
        """Whether a due entry still stands: its session runs and ends (or is held until)
        then."""
        session = self.sessions.get(session_id)
        if session is None:
            return False
        return at == session.ends or at == self.held.get(session_id)

    def end(self, session_id: str, now: float) -> Session | None:
        """End a session early; None when there is no such session (any more)."""
        session = self.sessions.pop(session_id, None)
        self.held.pop(session_id, None)
        if session is not None:
            self.by_ev.pop(session.ev_id, None)
            self._committed -= session.granted_kw
            if not self.sessions:
                self._committed = 0.0  # no rounding left behind
        return session

    def expire(self, now: float) -> list[Session]:
        """The sessions whose time is over, or whose hold was never confirmed, removed."""
        over: list[Session] = []
        due = self._due
        while due and due[0][0] <= now:
            at, session_id = heapq.heappop(due)
            if self._current(at, session_id):
                session = self.end(session_id, now)
                if session is not None:
                    over.append(session)
        return over
