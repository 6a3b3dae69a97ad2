"""Counting what a node does, without a metrics library: cumulative histograms (pure).

The node keeps its figures in these plain structures and ships them in its snapshot; the
API process turns them into Prometheus metrics, so scraping costs the control loop nothing.
"""

from __future__ import annotations

import bisect
from collections import Counter, deque
from dataclasses import dataclass, field

ROUND_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)
MIGRATION_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0)


@dataclass
class Histogram:
    """Counts per upper bound (Prometheus ``le``), plus sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.total += value
        self.count += 1

    def snapshot(self) -> dict[str, object]:
        """Cumulative buckets as Prometheus exposes them (the ``+Inf`` bucket is ``count``)."""
        cumulative, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            cumulative.append([bound, running])
        return {"buckets": cumulative, "sum": self.total, "count": self.count}


@dataclass
class Recent:
    """How many events of each kind happened in the last ``window_s`` seconds (pure).

    One-second buckets: memory stays bounded whatever the event rate.
    """

    window_s: float = 30.0
    buckets: deque[tuple[int, Counter[str]]] = field(default_factory=deque)

    def add(self, kind: str, now: float, n: int = 1) -> None:
        second = int(now)
        if not self.buckets or self.buckets[-1][0] != second:
            self.buckets.append((second, Counter()))
        self.buckets[-1][1][kind] += n
        self._expire(now)

    def counts(self, now: float) -> Counter[str]:
        self._expire(now)
        total: Counter[str] = Counter()
        for _, counter in self.buckets:
            total.update(counter)
        return total

    def _expire(self, now: float) -> None:
        horizon = now - self.window_s
        while self.buckets and self.buckets[0][0] + 1 <= horizon:
            self.buckets.popleft()
