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

    def committed_kw(self) -> float:
        return sum(s.granted_kw for s in self.sessions.values())

    def free_kw(self, other_load_kw: float) -> float:
        return self.capacity_kw - max(0.0, other_load_kw) - self.committed_kw()

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
        session = Session(
            f"{self.node}-{self.base}-{self.counter}",
            request.ev_id,
            self.node,
            granted,
            start := now if started is None else min(now, started),
            start + request.duration_s,  # a partial grant delivers less in the same time
        )
        self.sessions[session.id] = session
        self.by_ev[request.ev_id] = session.id
        if hold:
            self.held[session.id] = now + self.hold_s
        self.admitted += 1
        return session

    def confirm(self, session_id: str) -> bool:
        """The entry node booked it: no longer held. False when it was released already."""
        if session_id not in self.sessions:
            return False
        self.held.pop(session_id, None)
        return True

    def retry_after(self, now: float) -> float:
        """Seconds until the next session ends (when capacity comes back), bounded."""
        ends = [s.ends - now for s in self.sessions.values() if s.ends > now]
        return max(1.0, min([RETRY_AFTER_S, *ends]))

    def end(self, session_id: str, now: float) -> Session | None:
        """End a session early; None when there is no such session (any more)."""
        session = self.sessions.pop(session_id, None)
        self.held.pop(session_id, None)
        if session is not None:
            self.by_ev.pop(session.ev_id, None)
        return session

    def expire(self, now: float) -> list[Session]:
        """The sessions whose time is over, or whose hold was never confirmed, removed."""
        over = [
            s
            for s in self.sessions.values()
            if s.ends <= now or self.held.get(s.id, float("inf")) <= now
        ]
        for session in over:
            self.end(session.id, now)
        return over
