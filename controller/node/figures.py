"""A node's running figures, kept from its notes: migration outcomes and latencies, rounds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from controller.core.effects import Note
from controller.core.stats import MIGRATION_BUCKETS, ROUND_BUCKETS, Histogram

# note kind (and role) -> (direction, outcome)
OUTCOMES = {
    ("migration", "supply"): ("out", "committed"),
    ("migration", "demand"): ("in", "committed"),
    ("abort", None): ("out", "aborted"),
    ("too_late", None): ("out", "refused"),
    ("rollback", None): ("in", "rolled_back"),
}


@dataclass
class Figures:
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    rounds: Histogram = field(default_factory=lambda: Histogram(ROUND_BUCKETS))
    migrations: Histogram = field(default_factory=lambda: Histogram(MIGRATION_BUCKETS))
    _requested: dict[int, float] = field(default_factory=dict)  # window -> when it was sent
    _window_of: dict[int, int] = field(default_factory=dict)  # tx -> window

    def note(self, note: Note, at: float) -> None:
        role = note.data.get("role")
        outcome = OUTCOMES.get((note.kind, role if isinstance(role, str) else None))
        if outcome is not None:
            self.outcomes[outcome] += 1
        if note.kind == "request":  # only the newest window matters: forget the older ones
            self._requested = {int(str(note.data["window"])): at}
            self._window_of.clear()
        elif note.kind == "select":
            self._window_of[int(str(note.data.get("tx") or 0))] = int(str(note.data["window"]))
        elif note.kind == "migration" and role == "supply":
            self._settled(note, at)

    def _settled(self, note: Note, at: float) -> None:
        """Latency from the DraftRequest to the migration settled at the supply."""
        tx = int(str(note.data.get("tx") or 0))
        window = self._window_of.pop(tx, None)
        sent = self._requested.get(window) if window is not None else None
        if sent is None and self._requested:  # FREEDM: no transaction ids; the newest request
            sent = max(self._requested.values())
        if sent is not None:
            self.migrations.observe(at - sent)
