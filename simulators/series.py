"""Values over time for simulated generation, load and EV demand (``config.simulation.Series``)."""

from __future__ import annotations

import bisect
import csv
from collections.abc import Callable, Sequence
from pathlib import Path

from config.simulation import Series

SeriesFn = Callable[[float], float]


def build_series(series: Series, rows: Sequence[tuple[float, float]] = ()) -> SeriesFn:
    """A function of time (s) for ``series``; ``rows`` are its CSV data, already read."""
    if series.value is not None:
        value = series.value
        return lambda _t: value
    if series.steps is not None:
        return _steps([(t, v) for t, v in series.steps])
    if series.ramp is not None:
        ramp = series.ramp
        return lambda t: (
            ramp.start
            + (ramp.end - ramp.start) * min(1.0, max(0.0, (t - ramp.start_s) / ramp.duration_s))
        )
    return _interpolated([(t, v * series.scale) for t, v in rows], loop=series.loop)


def _steps(steps: Sequence[tuple[float, float]]) -> SeriesFn:
    times = [t for t, _ in steps]
    values = [v for _, v in steps]

    def at(t: float) -> float:
        return values[max(0, bisect.bisect_right(times, t) - 1)]

    return at


def _interpolated(rows: Sequence[tuple[float, float]], *, loop: bool) -> SeriesFn:
    times = [t for t, _ in rows]
    values = [v for _, v in rows]
    period = times[-1] - times[0] if len(times) > 1 else 0.0

    def at(t: float) -> float:
        if loop and period > 0:
            t = times[0] + (t - times[0]) % period
        i = bisect.bisect_right(times, t)
        if i == 0:
            return values[0]
        if i == len(times):
            return values[-1]
        t0, t1, v0, v1 = times[i - 1], times[i], values[i - 1], values[i]
        return v0 + (v1 - v0) * (t - t0) / (t1 - t0)

    return at


def read_csv_rows(path: Path, time_column: str, column: str | None) -> list[tuple[float, float]]:
    """Read (time, value) rows in time order (rows of one time keep their order: a step);
    the value column defaults to the first one after time."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        value_column = column or next(f for f in fields if f != time_column)
        rows = [(float(row[time_column]), float(row[value_column])) for row in reader]
    if not rows:
        raise ValueError(f"{path}: no data rows")
    return sorted(rows, key=lambda row: row[0])
