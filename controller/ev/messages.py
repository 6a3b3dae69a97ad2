"""EV routing messages between the entry node and a target substation (namespace ``ev``).

An admission is decided once, by the target, and is *held* until the entry node confirms it:
``ChargeAsk`` → ``ChargeHeld`` (or ``ChargeRefused``) → ``ChargeConfirm`` → ``ChargeConfirmed``
(or ``ChargeCancel`` → ``ChargeCancelled``). A held admission that is not confirmed within its
lease is released by the target, so an entry node that gave up on a slow or dead target and
booked the EV elsewhere can never leave it booked twice. Every answer of a target carries its
charging figures as of that moment (:class:`Figures`), so the entry node's view of it is
current after every exchange, not only after every state collection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from controller.core.messages import InvalidMessage, Limits, Message
from controller.ev.rules import MAX_ID, valid_ev_id


class EvMessage(Message):
    namespace: ClassVar[str] = "ev"


def _ev_id(ev_id: str) -> None:
    if not valid_ev_id(ev_id):
        raise InvalidMessage(f"an ev_id has 1 to {MAX_ID} printable characters")


#: No charging session draws more (kW): the largest chargers are about 1 MW.
MAX_SESSION_KW = 10_000.0


def _kw(value: float, limits: Limits) -> None:
    if not 0.0 < value <= MAX_SESSION_KW:
        raise InvalidMessage(f"{value:g} kW is outside 0..{MAX_SESSION_KW:g}")


#: The largest charging capacity a node may have (kW; ``ev_capacity_kw`` in the site file).
MAX_CAPACITY_KW = 1e12


def _figures(capacity_kw: float, load_kw: float, trend: float) -> None:
    top = MAX_CAPACITY_KW
    if not (0.0 < capacity_kw <= top and -top <= load_kw <= 2 * top and -1e6 < trend < 1e6):
        raise InvalidMessage("charging figures out of range")


@dataclass(frozen=True)
class ChargeAsk(EvMessage):
    """Entry → target: admit ``ev_id`` for ``power_kw`` during ``duration_s`` (request ``rid``),
    from ``at``: when the entry reserved it there (the session's start, on every side)."""

    rid: int
    ev_id: str
    power_kw: float
    duration_s: float
    at: float

    def check(self, limits: Limits) -> None:
        _ev_id(self.ev_id)
        _kw(self.power_kw, limits)
        if not 0.0 < self.duration_s <= 7 * 86_400:
            raise InvalidMessage("a session lasts more than 0 s and at most a week")


@dataclass(frozen=True)
class ChargeHeld(EvMessage):
    """Target → entry: admitted and held for the entry's confirmation."""

    rid: int
    session: str
    granted_kw: float
    started: float
    lasts_s: float  # from started: the asked energy at the granted power
    capacity_kw: float  # the target's figures (its View) as of its answer
    load_kw: float
    trend: float
    at: float

    def check(self, limits: Limits) -> None:
        _kw(self.granted_kw, limits)
        _figures(self.capacity_kw, self.load_kw, self.trend)
        if not 0.0 < self.lasts_s <= 7 * 86_400:
            raise InvalidMessage("a session lasts more than 0 s and at most a week")


@dataclass(frozen=True)
class ChargeRefused(EvMessage):
    """Target → entry: no capacity (``retry_after_s``: when some comes back)."""

    rid: int
    retry_after_s: float
    capacity_kw: float
    load_kw: float
    trend: float
    at: float

    def check(self, limits: Limits) -> None:
        _figures(self.capacity_kw, self.load_kw, self.trend)
        if not 0.0 <= self.retry_after_s <= 3600:
            raise InvalidMessage("retry_after_s is 0..3600")


@dataclass(frozen=True)
class ChargeConfirm(EvMessage):
    """Entry → target: the session is booked; start it."""

    rid: int
    session: str


@dataclass(frozen=True)
class ChargeConfirmed(EvMessage):
    """Target → entry: the session is booked and stored (``ok``), or its hold had run out."""

    rid: int
    session: str
    ok: int  # 1: booked; 0: not held any more (the codec has no booleans)

    def check(self, limits: Limits) -> None:
        if self.ok not in (0, 1):
            raise InvalidMessage("ok is 0 or 1")


@dataclass(frozen=True)
class ChargeCancel(EvMessage):
    """Entry → target: release the admission (the entry booked elsewhere or gave up)."""

    rid: int
    session: str


@dataclass(frozen=True)
class ChargeCancelled(EvMessage):
    """Target → entry: the session is released (or was not there)."""

    rid: int
    session: str


EV_MESSAGES: tuple[type[Message], ...] = (
    ChargeAsk,
    ChargeHeld,
    ChargeRefused,
    ChargeConfirm,
    ChargeConfirmed,
    ChargeCancel,
    ChargeCancelled,
)
