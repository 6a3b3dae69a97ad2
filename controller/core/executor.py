"""Effects carried out: one dispatch, one method per effect on each host.

A host is what runs node cores: the asyncio runtime (:mod:`controller.node.runtime`), virtual
time (:mod:`controller.virtual.group`) and the direct test link (``tests/lb_link.py``). A new
effect is a new method here and in each host, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from controller.core.effects import (
    Answer,
    CancelTimer,
    ChargeLimit,
    Effect,
    Note,
    Persist,
    Post,
    SetPStar,
    ShowGroup,
    StartTimer,
    StoreSession,
    TimerKey,
    Transmit,
)
from controller.peer.posted import Posted


class EffectHost(Protocol):
    def transmit(self, to: str, data: bytes) -> None:
        """Put an authenticated datagram on the wire to peer ``to``."""

    def post(self, to: str, posted: Posted) -> None:
        """Hand a posted message (the plain channel) to peer ``to``; a host with nothing but
        a real network never gets one (its cores are not assembled ``plain``)."""

    def command(self, effect: SetPStar) -> None:
        """Write the actuator; report sent, acknowledged or failed back to the core."""

    def show_group(self, bits: int) -> None:
        """Write the group bit field to the Logger, if there is one; never blocks a round."""

    def persist(self, key: str, data: Mapping[str, object]) -> None:
        """Store ``data`` under ``key`` for this node (replacing it) before going on."""

    def start_timer(self, key: TimerKey, at: float) -> None:
        """Call the core's ``timer(key)`` at ``at`` (replacing a timer of the same key)."""

    def cancel_timer(self, key: TimerKey) -> None: ...

    def note(self, note: Note) -> None:
        """Log it, count it, tell whoever listens."""

    def answer(self, effect: Answer) -> None:
        """Answer the API request ``effect.token`` (a host without an API drops it)."""

    def charge_limit(self, kw: float) -> None:
        """Let the node's EV chargers draw ``kw`` together; never blocks."""

    def store_session(self, effect: StoreSession) -> None:
        """Keep (or forget) a charging session across restarts before going on."""


def execute(effects: Iterable[Effect], host: EffectHost) -> None:
    for effect in effects:
        if isinstance(effect, Transmit):
            host.transmit(effect.to, effect.data)
        elif isinstance(effect, Post):
            host.post(effect.to, effect.posted)
        elif isinstance(effect, SetPStar):
            host.command(effect)
        elif isinstance(effect, ShowGroup):
            host.show_group(effect.bits)
        elif isinstance(effect, Persist):
            host.persist(effect.key, effect.data)
        elif isinstance(effect, StartTimer):
            host.start_timer(effect.key, effect.at)
        elif isinstance(effect, CancelTimer):
            host.cancel_timer(effect.key)
        elif isinstance(effect, Note):
            host.note(effect)
        elif isinstance(effect, Answer):
            host.answer(effect)
        elif isinstance(effect, ChargeLimit):
            host.charge_limit(effect.kw)
        elif isinstance(effect, StoreSession):
            host.store_session(effect)
        else:  # Send, GroupChanged and StateCollected end in the node core
            raise TypeError(f"{type(effect).__name__} is for the node core, not for a host")
