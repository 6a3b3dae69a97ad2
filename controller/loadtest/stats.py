"""A load test's outcomes summed up (pure): counts, latency percentiles, active sessions.

Each request ends as one :class:`Outcome`: an HTTP answer (its status; for a 201 the booking
it names) or a transport error. Latency runs from the request's *scheduled* time to its
answer (see ``plan``), percentiles by the nearest-rank rule (p99 of 500 values is the 495th
smallest: a value that was measured, never an interpolation).

Active sessions come from the 201 answers' ``started`` and ``expected_end`` (the site's Unix
times): a session is active on ``[started, expected_end)``. At every instant where a session
starts or ends — all of them at that instant applied together — the series holds the number
of active sessions of each substation; the **spread** is the busiest minus the idlest
substation there, over the substations given (those seen in answers, plus any the caller
names, so one that got nothing still counts as idle).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

FULL = 503  # no substation can take the request: reported apart from the failures
QUANTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True)
class Booking:
    """What a 201 answer says about the session it made."""

    substation: str
    started: float
    expected_end: float


@dataclass(frozen=True)
class Outcome:
    """One request: when it was due and when it ended (seconds from the run's start), and how.

    ``status`` is None when no HTTP answer came (``error`` says why); a 201 whose body does
    not name a booking has ``error`` set too, and counts as a failure.
    """

    scheduled_s: float
    done_s: float
    status: int | None = None
    error: str | None = None
    booking: Booking | None = None
    retry_after_s: float | None = None

    @property
    def booked(self) -> bool:
        return self.status == 201 and self.booking is not None


def percentile(ordered: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of values sorted ascending."""
    if not ordered:
        raise ValueError("no values to take a percentile of")
    if not 0.0 < q <= 100.0:
        raise ValueError(f"percentile {q:g}: must be in (0, 100]")
    rank = math.ceil(q / 100.0 * len(ordered) - 1e-9)
    return ordered[max(rank, 1) - 1]


@dataclass(frozen=True)
class ActiveSeries:
    """Active sessions of each substation (column) after each instant (row) where it changes.

    ``counts[i][j]``: sessions of ``substations[j]`` active from ``times[i]`` until the next
    time. Before ``times[0]`` none is active.
    """

    substations: tuple[str, ...]
    times: tuple[float, ...]
    counts: tuple[tuple[int, ...], ...]

    def peak(self) -> dict[str, int]:
        """Most sessions each substation had active at once."""
        return {
            name: max((row[j] for row in self.counts), default=0)
            for j, name in enumerate(self.substations)
        }

    def max_spread(self) -> int:
        """Busiest minus idlest substation, at the instant where that is largest."""
        if len(self.substations) < 2:
            return 0
        return max((max(row) - min(row) for row in self.counts), default=0)


def active_series(bookings: Iterable[Booking], substations: Iterable[str] = ()) -> ActiveSeries:
    """The active sessions at every instant, over the given substations and those booked."""
    changes: dict[float, Counter[str]] = {}
    names = set(substations)
    for booking in bookings:
        names.add(booking.substation)
        changes.setdefault(booking.started, Counter())[booking.substation] += 1
        changes.setdefault(booking.expected_end, Counter())[booking.substation] -= 1
    order = tuple(sorted(names))
    column = {name: j for j, name in enumerate(order)}
    active = [0] * len(order)
    times, counts = [], []
    for t in sorted(changes):
        for name, delta in changes[t].items():
            active[column[name]] += delta
        times.append(t)
        counts.append(tuple(active))
    return ActiveSeries(order, tuple(times), tuple(counts))


@dataclass(frozen=True)
class Summary:
    """What a load test found; ``as_dict`` is the ``--json`` output."""

    requests: int
    answered: int
    booked: int
    full: int
    statuses: dict[str, int]  # every answer that was not a 201 booking, by status
    errors: dict[str, int]  # requests with no usable answer, by cause
    elapsed_s: float
    answered_per_s: float
    latency_ms: dict[str, float]
    per_substation: dict[str, int]
    peak_active: dict[str, int]
    max_spread: int
    retry_after_s: list[float] = field(default_factory=list)  # the values 503s gave
    full_without_retry_after: int = 0

    @property
    def failed(self) -> int:
        """Requests that failed: not booked, and not a 503 "full"."""
        hard = sum(n for status, n in self.statuses.items() if status != str(FULL))
        return hard + sum(self.errors.values())

    def as_dict(self) -> dict[str, Any]:
        fields = dict(self.__dict__)
        fields["failed"] = self.failed
        return fields


def summarize(outcomes: Sequence[Outcome], substations: Iterable[str] = ()) -> Summary:
    answered = [o for o in outcomes if o.status is not None]
    bookings = [o.booking for o in outcomes if o.booked and o.booking is not None]
    statuses = Counter(str(o.status) for o in answered if not o.booked and o.status != 201)
    errors = Counter(o.error or "unknown" for o in outcomes if not o.booked and o.error)
    elapsed = max((o.done_s for o in outcomes), default=0.0)
    series = active_series(bookings, substations)
    return Summary(
        requests=len(outcomes),
        answered=len(answered),
        booked=len(bookings),
        full=statuses.get(str(FULL), 0),
        statuses=dict(sorted(statuses.items())),
        errors=dict(sorted(errors.items())),
        elapsed_s=elapsed,
        answered_per_s=len(answered) / elapsed if elapsed > 0.0 else 0.0,
        latency_ms=latency_ms([o.done_s - o.scheduled_s for o in answered]),
        per_substation=dict(sorted(Counter(b.substation for b in bookings).items())),
        peak_active=series.peak(),
        max_spread=series.max_spread(),
        retry_after_s=sorted({o.retry_after_s for o in answered if o.retry_after_s is not None}),
        full_without_retry_after=sum(
            1 for o in answered if o.status == FULL and o.retry_after_s is None
        ),
    )


def latency_ms(latencies_s: Iterable[float]) -> dict[str, float]:
    """p50, p95, p99 and max in milliseconds (empty without values)."""
    ordered = sorted(max(0.0, s) * 1000.0 for s in latencies_s)
    if not ordered:
        return {}
    figures = {f"p{q:g}": percentile(ordered, q) for q in QUANTILES}
    figures["max"] = ordered[-1]
    return figures


#: ``dgi loadtest``'s exit status (docs/ev-charging.md, "Load tester").
EXIT_BOOKED, EXIT_FAILED, EXIT_FULL = 0, 1, 3


def exit_status(summary: Summary) -> int:
    """0: every request booked; 1: any failed (transport error, non-201 other than 503, a 201
    that names no booking); 3: none failed but some were refused with 503 "full"."""
    if summary.failed:
        return EXIT_FAILED
    return EXIT_FULL if summary.full else EXIT_BOOKED
