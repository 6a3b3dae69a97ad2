"""Peer messages (FREEDM names), their wire fields, and content validation.

FREEDM's LB messages plus what ``adaptive`` mode adds: request windows and transaction ids on
the draft handshake, ``DraftCommit``/``DraftAbort`` to resolve a transaction, and ``Status``,
an informational per-round heartbeat (state and gateway) that never changes a draft decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

STATES = ("supply", "demand", "normal")


@dataclass(frozen=True)
class StateChange:
    """A node announces its state (FREEDM only ever sends "demand")."""

    state: str


@dataclass(frozen=True)
class Status:
    """Every round: the sender's state and power figures (informational)."""

    state: str
    gateway: float
    net_generation: float
    predicted: float


@dataclass(frozen=True)
class DraftRequest:
    """Supply → demand: "how much do you need?" ``window`` ties answers to this request."""

    window: int


@dataclass(frozen=True)
class DraftAge:
    """Demand → supply: the need (0 when not in demand)."""

    window: int
    age: float


@dataclass(frozen=True)
class DraftSelect:
    """Supply → demand: "I migrate ``amount`` to you" (transaction ``tx``)."""

    tx: int
    amount: float


@dataclass(frozen=True)
class DraftAccept:
    """Demand → supply: taken (``amount`` may be less than offered in adaptive mode)."""

    tx: int
    amount: float


@dataclass(frozen=True)
class TooLate:
    """Demand → supply: refused; the supply side rolls back."""

    tx: int
    amount: float


@dataclass(frozen=True)
class DraftCommit:
    """Supply → demand (adaptive): the transaction is applied on both sides."""

    tx: int


@dataclass(frozen=True)
class DraftAbort:
    """Supply → demand (adaptive): the transaction is void; undo a provisional acceptance."""

    tx: int


@dataclass(frozen=True)
class DuplicateId:
    """Peer → node: "I hear your id from two processes at once, boot epochs a and b"."""

    epoch_a: int
    epoch_b: int


Message = (
    StateChange
    | Status
    | DraftRequest
    | DraftAge
    | DraftSelect
    | DraftAccept
    | TooLate
    | DraftCommit
    | DraftAbort
    | DuplicateId
)

#: Wire names; the position in this table never matters, the name does.
MESSAGE_TYPES: dict[str, type[Message]] = {
    cls.__name__: cls
    for cls in (
        StateChange,
        Status,
        DraftRequest,
        DraftAge,
        DraftSelect,
        DraftAccept,
        TooLate,
        DraftCommit,
        DraftAbort,
        DuplicateId,
    )
}


class MalformedMessage(ValueError):
    """The body does not have the shape of its message type."""


class InvalidMessage(ValueError):
    """Well formed, but a value is outside what the receiver accepts."""


def to_body(message: Message) -> list[Any]:
    return [getattr(message, f.name) for f in fields(message)]


def from_body(type_name: str, body: object) -> Message:
    """Rebuild a message from its wire body; raise :class:`MalformedMessage` on any mismatch."""
    cls = MESSAGE_TYPES.get(type_name)
    if cls is None:
        raise MalformedMessage(f"unknown message type {type_name!r}")
    wanted = fields(cls)
    if not isinstance(body, list) or len(body) != len(wanted):
        raise MalformedMessage(f"{type_name} needs {len(wanted)} fields")
    values: list[Any] = []
    for spec, value in zip(wanted, body, strict=True):
        values.append(_field(type_name, spec.name, spec.type, value))
    return cls(*values)


def _field(type_name: str, name: str, kind: object, value: object) -> object:
    if kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedMessage(f"{type_name}.{name} must be an integer")
        return value
    if kind in ("float", float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MalformedMessage(f"{type_name}.{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise MalformedMessage(f"{type_name}.{name} must be a string")
    return value


@dataclass(frozen=True)
class Limits:
    """What a receiver accepts: amounts and ages up to ``max_amount`` kW."""

    max_amount: float


def validate(message: Message, limits: Limits) -> None:
    """Raise :class:`InvalidMessage` when a value is not acceptable (docs/algorithm.md, "Two
    modes, one state machine": validated messages)."""
    if isinstance(message, (StateChange, Status)) and message.state not in STATES:
        raise InvalidMessage(f"state {message.state!r} is not one of {', '.join(STATES)}")
    for spec in fields(message):
        value = getattr(message, spec.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidMessage(f"{spec.name} = {value} is not finite")
    amount = getattr(message, "amount", None)
    if amount is None:
        amount = getattr(message, "age", None)
    if amount is not None and not 0.0 <= amount <= limits.max_amount:
        raise InvalidMessage(f"{amount:g} is outside 0..{limits.max_amount:g}")
    if isinstance(message, DraftSelect) and message.amount <= 0.0:
        raise InvalidMessage("a draft must move a positive amount")
