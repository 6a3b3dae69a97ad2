"""Phase arithmetic (pure): the GM → SC → LB cycle aligned to wall-clock multiples of its length.

Every node computes the same boundaries from the same timings, so nodes with synchronised
clocks run the same phase at the same time (FREEDM aligned to UTC time-of-day and glitched at
midnight; multiples of the cycle since the Unix epoch do not).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from config.timings import Timings

PHASES = ("gm", "sc", "lb")


def rounds_per_phase(phase_ms: int, round_ms: int) -> int:
    """FREEDM's LoadManage count: round k+1 runs only if more than two rounds remain at k."""
    count, k = 1, 0
    while round_ms > 0 and phase_ms - k * round_ms > 2 * round_ms:
        k += 1
        count += 1
    return count


@dataclass(frozen=True)
class Event:
    """A scheduled moment: a phase start (``kind`` = phase name) or an LB ``round`` (``index``)."""

    at: float
    kind: str
    index: int = 0


@dataclass(frozen=True)
class PhasePlan:
    gm_s: float
    sc_s: float
    lb_s: float
    round_s: float
    rounds: int

    @classmethod
    def from_timings(cls, timings: Timings) -> PhasePlan:
        return cls(
            gm_s=timings.GM_PHASE_TIME / 1000,
            sc_s=timings.SC_PHASE_TIME / 1000,
            lb_s=timings.LB_PHASE_TIME / 1000,
            round_s=timings.LB_ROUND_TIME / 1000,
            rounds=rounds_per_phase(timings.LB_PHASE_TIME, timings.LB_ROUND_TIME),
        )

    @property
    def cycle_s(self) -> float:
        return self.gm_s + self.sc_s + self.lb_s

    def offsets(self) -> list[Event]:
        """Events of one cycle, as offsets from its start."""
        lb = self.gm_s + self.sc_s
        events = [Event(0.0, "gm"), Event(self.gm_s, "sc"), Event(lb, "lb")]
        events += [Event(lb + k * self.round_s, "round", k) for k in range(self.rounds)]
        return events

    def cycle_start(self, now: float) -> float:
        """The start of the cycle containing ``now``."""
        return math.floor(now / self.cycle_s) * self.cycle_s

    def next_cycle(self, now: float) -> float:
        """The first cycle boundary at or after ``now``."""
        return math.ceil(now / self.cycle_s) * self.cycle_s

    def phase_at(self, now: float) -> str:
        offset = now - self.cycle_start(now)
        if offset < self.gm_s:
            return "gm"
        return "sc" if offset < self.gm_s + self.sc_s else "lb"

    def events(self, start: float, end: float) -> Iterator[Event]:
        """Every event with ``start <= at < end``, in time order (phase start before round 0)."""
        cycle = self.cycle_start(start)
        while cycle < end:
            for event in self.offsets():
                at = cycle + event.at
                if start <= at < end:
                    yield Event(at, event.kind, event.index)
            cycle += self.cycle_s
