"""When did a group converge? Folded from samples of the largest imbalance (pure).

The demo samples the plant a hundred times a second for as long as it runs, so the answer is
kept as it goes, in constant memory, instead of from a list of every sample.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Settling:
    """Samples of (time, largest |G - NG| over the nodes), in time order."""

    tolerance: float
    worst: float | None = None  # the latest sample's imbalance
    settled_from: float | None = None  # the first sample after the last one out of tolerance

    def add(self, t: float, worst: float) -> None:
        if worst > self.tolerance:
            self.settled_from = None
        elif self.worst is not None and self.worst > self.tolerance:
            self.settled_from = t
        self.worst = worst

    def converged_at(self, since: float) -> float | None:
        """Seconds from ``since`` until the imbalance was, and stayed, within tolerance;
        ``None`` while the latest sample is out of it (or there is none)."""
        if self.worst is None or self.worst > self.tolerance:
            return None
        settled = since if self.settled_from is None else max(since, self.settled_from)
        return max(0.0, settled - since)
