"""A node without I/O: the wire stage, the load balancer and FREEDM's phase discipline.

Work for the LB module runs only during the LB phase: a message or timer that arrives in
another phase is kept and delivered, in order, when the next LB phase starts (as FREEDM's
broker did). Datagrams are authenticated and counted on arrival, whatever the phase.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.effects import BROADCAST, Effect, Note, Send, TimerKey, Transmit
from controller.lb.core import LoadBalancer
from controller.peer.wire import Dropped, Inbound, Wire
from controller.readings import Readings


@dataclass
class NodeCore:
    """Datagrams, readings, timers and phase changes in; effects out, sent as ``Transmit``."""

    lb: LoadBalancer
    wire: Wire
    phase: str | None = None
    deferred: list[Inbound | TimerKey] = field(default_factory=list)
    last_seen: dict[str, float] = field(default_factory=dict)  # peer -> last accepted datagram
    _logged: set[tuple[str | None, str]] = field(default_factory=set)

    @property
    def node_id(self) -> str:
        return self.lb.node_id

    def phase_started(self, phase: str, now: float) -> list[Effect]:
        self.phase = phase
        if phase != "lb":
            return []
        fx = self.lb.start_phase(now)
        deferred, self.deferred = self.deferred, []
        for item in deferred:
            if isinstance(item, Inbound):
                fx += self.lb.message(item.sender, item.message, now)
            else:
                fx += self.lb.timer(item, now)
        return self._out(fx, now)

    def round(self, readings: Readings, now: float) -> list[Effect]:
        return self._out(self.lb.round(readings, now), now)

    def datagram(self, data: bytes, now: float) -> list[Effect]:
        result = self.wire.open(data, now)
        if isinstance(result, Dropped):
            return [self._dropped(result)]
        self.last_seen[result.sender] = now
        if self.phase != "lb":
            self.deferred.append(result)
            return []
        return self._out(self.lb.message(result.sender, result.message, now), now)

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        if self.phase != "lb":
            self.deferred.append(key)
            return []
        return self._out(self.lb.timer(key, now), now)

    def _out(self, effects: list[Effect], now: float) -> list[Effect]:
        """Seal every ``Send``; a broadcast is sealed once and sent to each peer."""
        out: list[Effect] = []
        for effect in effects:
            if not isinstance(effect, Send):
                out.append(effect)
            elif effect.to == BROADCAST:
                data = self.wire.seal(BROADCAST, effect.message, now)
                out += [Transmit(peer, data) for peer in self.lb.peers]
            else:
                out.append(Transmit(effect.to, self.wire.seal(effect.to, effect.message, now)))
        return out

    def _dropped(self, drop: Dropped) -> Note:
        """Logged once per claimed sender and reason; always counted by the wire."""
        key = (drop.sender, drop.reason)
        first = key not in self._logged
        self._logged.add(key)
        text = f"dropped datagram from {drop.sender or 'unknown sender'}: {drop.detail}"
        return Note(
            "drop",
            text,
            {"reason": drop.reason, "sender": drop.sender},
            "warning" if first else "debug",
        )
