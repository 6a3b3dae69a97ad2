"""EV routing messages between the entry node and a target substation (namespace ``ev``).

An admission is decided once, by the target, and is *held* until the entry node confirms it:
``ChargeAsk`` → ``ChargeHeld`` (or ``ChargeRefused``) → ``ChargeConfirm`` (or ``ChargeCancel``).
A held admission that is not confirmed within its lease is released by the target, so an
entry node that gave up on a slow or dead target and booked the EV elsewhere can never leave
it booked twice.
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


def _kw(value: float, limits: Limits) -> None:
    if not 0.0 < value <= limits.max_amount:
        raise InvalidMessage(f"{value:g} kW is outside 0..{limits.max_amount:g}")


@dataclass(frozen=True)
class ChargeAsk(EvMessage):
    """Entry → target: admit ``ev_id`` for ``power_kw`` during ``duration_s`` (request ``rid``)."""

    rid: int
    ev_id: str
    power_kw: float
    duration_s: float

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
    ends_in_s: float

    def check(self, limits: Limits) -> None:
        _kw(self.granted_kw, limits)


@dataclass(frozen=True)
class ChargeRefused(EvMessage):
    """Target → entry: no capacity (``retry_after_s``: when some comes back)."""

    rid: int
    retry_after_s: float


@dataclass(frozen=True)
class ChargeConfirm(EvMessage):
    """Entry → target: the session is booked; start it."""

    rid: int
    session: str


@dataclass(frozen=True)
class ChargeCancel(EvMessage):
    """Entry → target: release the held admission (the entry booked elsewhere or gave up)."""

    rid: int
    session: str


EV_MESSAGES: tuple[type[Message], ...] = (
    ChargeAsk,
    ChargeHeld,
    ChargeRefused,
    ChargeConfirm,
    ChargeCancel,
)
