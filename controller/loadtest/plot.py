"""``dgi loadtest --plot``: active sessions per substation over time, as a PNG.

matplotlib lives here only, with its file-only Agg backend (no display needed), and is
imported when a plot is asked for. The time axis runs from the first session's start over
the bookings: up to the last start and a tenth more (at least 10 ms) — sessions booked for
an hour would otherwise flatten a 30 ms burst into a line at the left edge.
"""

from __future__ import annotations

from pathlib import Path

from controller.loadtest.stats import ActiveSeries


def window(series: ActiveSeries, starts: list[float]) -> tuple[float, float]:
    """The plotted span of the series' own (Unix) times."""
    first = min(starts) if starts else (series.times[0] if series.times else 0.0)
    last = max(starts, default=first)
    span = max(0.01, (last - first) * 1.1)
    return first, first + span


def write_plot(
    series: ActiveSeries, starts: list[float], path: Path, title: str = "active sessions"
) -> None:
    """Draw each substation's active sessions as a step line and write ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.ticker import MaxNLocator

    first, end = window(series, starts)
    figure, axes = pyplot.subplots(figsize=(9, 4.5), layout="constrained")
    try:
        shown = [(t - first, row) for t, row in zip(series.times, series.counts, strict=True)]
        shown = [(t, row) for t, row in shown if t <= end - first]
        times = [0.0] + [t for t, _ in shown] + [end - first]
        for j, name in enumerate(series.substations):
            counts = [0] + [row[j] for _, row in shown]
            axes.step(times, [*counts, counts[-1]], where="post", label=name)
        axes.set_xlim(0.0, end - first)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("seconds since the first session started")
        axes.set_ylabel("active sessions")
        axes.set_title(title)
        axes.grid(visible=True, alpha=0.3)
        if series.substations:
            axes.legend(loc="upper left")
        figure.savefig(path, format="png", dpi=100)
    finally:
        pyplot.close(figure)
