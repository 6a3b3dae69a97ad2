"""What a load balancer must not forget when its process dies (pure: data in, data out).

A node that is killed (SIGKILL, a crash, a power cut of its host) and restarted would
otherwise forget what it decided: a supply node the transactions it committed (and would
answer "aborted" when its peer asks), a demand node what it took provisionally (and would
never give back an aborted amount). So before the command changes — before the write to the
actuator and before the message that tells a peer — the load balancer hands the runtime its
:class:`Journal` (a ``Persist`` effect), and the runtime stores it; a restarted node takes it
up again (:meth:`controller.lb.core.LoadBalancer.restore`):

* the command: the restarted node commands it again (a ``restore`` ledger entry), whatever
  the device holds after the restart;
* the transactions it committed as supply, still answered "committed" when a peer asks;
* the amounts it took as demand and has no decision for: it asks their supply again, and
  gives an aborted one back.

A journal older than the peers' memory of their decisions (``retention_s``) is not taken up:
the node then starts from what its device holds, as without a journal.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

VERSION = 1


class JournalError(ValueError):
    """Stored data that is not a journal this version can take up."""


@dataclass(frozen=True)
class Committed:
    """A transaction this node, as supply, committed."""

    tx: int
    peer: str
    amount: float
    started: float


@dataclass(frozen=True)
class Taken:
    """An amount this node, as demand, took provisionally and has no decision for."""

    peer: str
    tx: int
    amount: float
    started: float


@dataclass(frozen=True)
class Journal:
    node: str
    written: float  # wall clock
    command: float
    setpoint: float
    committed: tuple[Committed, ...] = ()
    taken: tuple[Taken, ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "version": VERSION,
            "node": self.node,
            "written": self.written,
            "command": self.command,
            "setpoint": self.setpoint,
            "committed": [[c.tx, c.peer, c.amount, c.started] for c in self.committed],
            "taken": [[t.peer, t.tx, t.amount, t.started] for t in self.taken],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any], node: str) -> Journal:
        """Raise :class:`JournalError` naming what is wrong."""
        if data.get("version") != VERSION:
            raise JournalError(f"version {data.get('version')!r}, expected {VERSION}")
        if data.get("node") != node:
            raise JournalError(f"written by node {data.get('node')!r}, not {node!r}")
        try:
            committed = tuple(
                Committed(_int(tx), _str(peer), _number(a), _number(at))
                for tx, peer, a, at in data["committed"]
            )
            taken = tuple(
                Taken(_str(peer), _int(tx), _number(a), _number(at))
                for peer, tx, a, at in data["taken"]
            )
            return cls(
                node,
                _number(data["written"]),
                _number(data["command"]),
                _number(data["setpoint"]),
                committed,
                taken,
            )
        except (KeyError, TypeError, ValueError, ArithmeticError) as error:
            raise JournalError(f"malformed: {error}") from error


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return float(value)


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not an integer")
    return value


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a string")
    return value
