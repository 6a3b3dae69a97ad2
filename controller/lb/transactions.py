"""Adaptive-mode transaction records (docs/algorithm.md, "Transactions: decided once, by
the supply side").

The supply node decides each transaction exactly once: *committed* when the first DraftAccept
arrives within its lease (and only then does it raise its own setpoint), *aborted* when the
lease ends first or the demand node refuses. The demand node applies its half provisionally
when it accepts and repeats its DraftAccept until it learns that decision — DraftCommit makes
it final, DraftAbort undoes it. Neither side decides twice and both follow the supply's
decision, so once messages stop being lost every transaction is applied on both sides or on
neither, and the setpoint changes of the group sum to zero.
"""

from __future__ import annotations

from dataclasses import dataclass

PENDING, COMMITTED, ABORTED = "pending", "committed", "aborted"
PROVISIONAL, FINAL, REFUSED, UNRESOLVED = "provisional", "final", "refused", "unresolved"


@dataclass
class SupplyTx:
    """A draft this node (supply) offered."""

    peer: str
    offered: float
    started: float
    state: str = PENDING
    taken: float = 0.0
    tier: bool = False  # a transfer to another feeder's leader (tier 2)


@dataclass
class DemandTx:
    """A draft this node (demand) answered; the answer is repeated for duplicates."""

    peer: str
    tx: int
    amount: float  # taken when accepted, offered when refused
    started: float
    state: str = PROVISIONAL
