"""The load-balancing module's messages (FREEDM names) and their value rules.

FREEDM's LB messages plus what ``adaptive`` mode adds: request windows and transaction ids on
the draft handshake and ``DraftCommit``/``DraftAbort`` to resolve a transaction. What each
node's state is reaches the others through state collection (:mod:`controller.sc`), once per
cycle, not as a heartbeat to every member every round.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from controller.core.messages import InvalidMessage, Limits, Message
from controller.lb.rules import STATES


class LbMessage(Message):
    namespace: ClassVar[str] = "lb"


def check_state(state: str) -> None:
    """An LB state on the wire is one of :data:`controller.lb.rules.STATES`."""
    if state not in STATES:
        raise InvalidMessage(f"state {state!r} is not one of {', '.join(STATES)}")


def _amount(amount: float, limits: Limits) -> None:
    if not 0.0 <= amount <= limits.max_amount:
        raise InvalidMessage(f"{amount:g} is outside 0..{limits.max_amount:g}")


@dataclass(frozen=True)
class StateChange(LbMessage):
    """A node announces its state (FREEDM only ever sends "demand")."""

    state: str

    def check(self, limits: Limits) -> None:
        check_state(self.state)


@dataclass(frozen=True)
class DraftRequest(LbMessage):
    """Supply → demand: "how much do you need?" ``window`` ties answers to this request."""

    window: int


@dataclass(frozen=True)
class DraftAge(LbMessage):
    """Demand → supply: the need (0 when not in demand)."""

    window: int
    age: float

    def check(self, limits: Limits) -> None:
        _amount(self.age, limits)


@dataclass(frozen=True)
class DraftSelect(LbMessage):
    """Supply → demand: "I migrate ``amount`` to you" (transaction ``tx``)."""

    tx: int
    amount: float

    def check(self, limits: Limits) -> None:
        _amount(self.amount, limits)
        if self.amount <= 0.0:
            raise InvalidMessage("a draft must move a positive amount")


@dataclass(frozen=True)
class DraftAccept(LbMessage):
    """Demand → supply: taken (``amount`` may be less than offered in adaptive mode)."""

    tx: int
    amount: float

    def check(self, limits: Limits) -> None:
        _amount(self.amount, limits)


@dataclass(frozen=True)
class TooLate(LbMessage):
    """Demand → supply: refused; the supply side rolls back."""

    tx: int
    amount: float

    def check(self, limits: Limits) -> None:
        _amount(self.amount, limits)


@dataclass(frozen=True)
class DraftCommit(LbMessage):
    """Supply → demand (adaptive): the transaction is applied on both sides."""

    tx: int


@dataclass(frozen=True)
class DraftAbort(LbMessage):
    """Supply → demand (adaptive): the transaction is void; undo a provisional acceptance."""

    tx: int


@dataclass(frozen=True)
class FeederState(LbMessage):
    """Feeder leader → the other feeders' anchors (tier 2): the feeder's residual
    Σ (NG − PG) over its members as collected this cycle — positive in surplus, negative in
    deficit (docs/algorithm.md, "Two tiers: groups per feeder and transfers between feeders")."""

    residual: float

    def check(self, limits: Limits) -> None:
        if not -limits.max_amount <= self.residual <= limits.max_amount:
            raise InvalidMessage(f"residual {self.residual:g} is outside ±{limits.max_amount:g}")


LB_MESSAGES: tuple[type[Message], ...] = (
    StateChange,
    DraftRequest,
    DraftAge,
    DraftSelect,
    DraftAccept,
    TooLate,
    DraftCommit,
    DraftAbort,
    FeederState,
)
