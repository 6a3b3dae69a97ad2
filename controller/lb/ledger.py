"""The command ledger: every change of this node's PStar, and what its device acknowledged.

**Invariant** (docs/algorithm.md): the node's command — the PStar it wants its actuator to
hold — is the command it started from plus the sum of the ledger's entries: migrations
(``supply`` +amount when committed, ``demand`` −amount when taken, ``rollback`` when one is
given back) and adjustments that are not migrations (``hold`` when the Logger disables the
node, ``adopt`` when the node takes the device's value as its own, ``limit`` when the
actuator cannot hold what was asked, ``resync`` when FREEDM's synchronisation moved PG away
from the command, ``restore`` when a restarted node takes up the command its previous
process journaled, :mod:`controller.lb.journal`). Nothing else changes the command; above
all no reading does. In adaptive mode PG *is* the command.

Every change gets a sequence number and becomes one write (the actuator writes the newest
one). The device acknowledges a write of sequence ``s``; it then holds every change up to
``s``. A read-back of the actuator is compared with the acknowledged command only when the
read was sent after that acknowledgement and no newer change is waiting to be written —
a reading older than the last write can never reset or contradict a command.

*Marks* order reads and acknowledgements: any clock that never goes back (the runtime uses
``time.monotonic``; virtual time in simulations). Wall-clock ``now`` only dates entries.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

MIGRATIONS = frozenset({"supply", "demand", "rollback"})
ADJUSTMENTS = frozenset({"hold", "adopt", "limit", "resync", "restore"})
WRITES = frozenset({"reassert", "track"})  # write again, the command unchanged
KEEP = 200  # entries of each family kept for the API; the sums cover every entry ever made


@dataclass(frozen=True)
class Entry:
    """One change (or one write) of the command."""

    seq: int
    kind: str
    delta: float
    pstar: float  # the command after this entry
    setpoint: float  # what is written to the actuator (= pstar for an SST)
    at: float
    peer: str | None = None
    tx: int | None = None


def _keep() -> deque[Entry]:
    return deque(maxlen=KEEP)


@dataclass
class Ledger:
    """The command and its history (pure: every method takes ``now`` or a mark)."""

    # migrations are kept apart, so that writes repeated every round (a Logger hold, a
    # battery that tracks its load) cannot push them out of the history
    migrations: deque[Entry] = field(default_factory=_keep)
    others: deque[Entry] = field(default_factory=_keep)
    started: bool = False
    initial: float = 0.0
    command: float = 0.0
    setpoint: float = 0.0  # the actuator value of the newest entry
    migrated: float = 0.0
    adjusted: float = 0.0
    seq: int = 0
    sent_seq: int = 0  # the newest entry whose write went to the device
    acked_seq: int = 0
    acked_mark: float | None = None
    acked_setpoint: float | None = None
    acked_pstar: float | None = None
    pending_since: float | None = None  # when the oldest unacknowledged change was made

    def start(self, pstar: float, setpoint: float, now: float, mark: float) -> None:
        """The command the node starts from: what its device holds, read back (the read
        with ``mark`` acknowledges it), or the measured gateway when the command point cannot
        be read (nothing was written, so nothing is outstanding)."""
        self.started = True
        self.initial = self.command = pstar
        self.setpoint = setpoint
        self.seq += 1
        self.others.append(Entry(self.seq, "start", 0.0, pstar, setpoint, now))
        self.sent_seq = self.acked_seq = self.seq
        self.acked_mark, self.acked_setpoint, self.acked_pstar = mark, setpoint, pstar

    def record(
        self,
        kind: str,
        pstar: float,
        setpoint: float,
        now: float,
        *,
        peer: str | None = None,
        tx: int | None = None,
    ) -> Entry:
        """A new command (or a new write of the same one); returns the entry to write."""
        delta = pstar - self.command
        if kind in MIGRATIONS:
            self.migrated += delta
        elif kind in ADJUSTMENTS:
            self.adjusted += delta
        elif kind not in WRITES:
            raise ValueError(f"unknown ledger entry kind {kind!r}")
        elif not math.isclose(delta, 0.0, abs_tol=1e-12):
            raise ValueError(f"a {kind} entry cannot change the command (delta {delta})")
        self.seq += 1
        entry = Entry(self.seq, kind, delta, pstar, setpoint, now, peer, tx)
        (self.migrations if kind in MIGRATIONS else self.others).append(entry)
        self.command, self.setpoint = pstar, setpoint
        if self.pending_since is None:
            self.pending_since = now
        return entry

    def acked(self, seq: int, setpoint: float, mark: float) -> bool:
        """The device acknowledged the write of ``seq``; False for an older, superseded one."""
        if seq <= self.acked_seq:
            return False
        self.acked_seq, self.acked_mark, self.acked_setpoint = seq, mark, setpoint
        entry = self._entry(seq)
        if entry is not None:
            self.acked_pstar = entry.pstar
        waiting = [e.at for e in (*self.migrations, *self.others) if e.seq > seq]
        self.pending_since = min(waiting) if waiting else None
        return True

    def _entry(self, seq: int) -> Entry | None:
        return next((e for e in (*self.migrations, *self.others) if e.seq == seq), None)

    @property
    def pending(self) -> bool:
        """A change is waiting to be written (or for its acknowledgement)."""
        return self.seq > self.acked_seq

    def comparable(self, read_mark: float | None) -> bool:
        """Whether a read-back sent at ``read_mark`` can be compared with the command: the
        command is acknowledged and the read was sent after the acknowledgement."""
        return (
            self.started
            and not self.pending
            and self.acked_mark is not None
            and read_mark is not None
            and read_mark >= self.acked_mark
        )

    def recent(self, count: int = 50) -> list[dict[str, object]]:
        """The newest entries, each with whether it was acknowledged, and whether a write
        carrying it — or a later command that superseded it — went to the device."""
        entries = sorted((*self.migrations, *self.others), key=lambda e: e.seq)[-count:]
        return [
            {
                "seq": e.seq,
                "kind": e.kind,
                "amount": e.delta,
                "pstar": e.pstar,
                "setpoint": e.setpoint,
                "at": e.at,
                "peer": e.peer,
                "tx": e.tx,
                "written": e.seq <= max(self.sent_seq, self.acked_seq),
                "acknowledged": e.seq <= self.acked_seq,
            }
            for e in entries
        ]

    def summary(self) -> dict[str, object]:
        return {
            "initial": self.initial,
            "command": self.command,
            "setpoint": self.setpoint,
            "migrated": self.migrated,
            "adjusted": self.adjusted,
            "seq": self.seq,
            "sent_seq": self.sent_seq,
            "acked_seq": self.acked_seq,
            "acked_setpoint": self.acked_setpoint,
            "pending_since": self.pending_since,
        }
