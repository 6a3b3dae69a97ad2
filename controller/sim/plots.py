"""``dgi sim --plot DIR``: a run's charts as PNGs — ``gateway.png`` (G and NG over time),
``k.png`` (K), ``migrations.png`` (cumulative migrations and datagrams) and ``groups.png``
(group membership over time).

matplotlib lives here only for the simulator, with its file-only Agg backend, imported when a
plot is drawn (as in :mod:`controller.loadtest.plot`). What is drawn is folded by
:mod:`controller.sim.charts` (per node up to 30 nodes, per feeder beyond); the rows come from
the run's own ``series.csv`` read back as a stream (or from samples in memory, for a short
run), so a 1 000-node run plots in flat memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from controller.sim.charts import ALONE, ChartData, fold
from controller.sim.output import Row, natural_key, read_rows, sample_rows
from controller.sim.record import Event, Sample, Summary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Drawer = Callable[[ChartData, "Figure", list[float], str], None]
MAX_EVENT_MARKS = 40  # scenario events drawn as vertical lines, at most
MAX_LEGEND = 30
DPI = 100


def rows_of(source: Path | Iterable[Sample]) -> Iterator[Row]:
    """The rows of a ``series.csv`` path, or of samples."""
    if isinstance(source, Path | str):
        yield from read_rows(Path(source))
        return
    for sample in source:
        yield from sample_rows(sample)


def plot_run(
    directory: Path,
    samples_source: Path | Iterable[Sample],
    events: Sequence[Event],
    summary: Summary,
) -> list[Path]:
    """Write the four charts of a run into ``directory`` (created); the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    data = fold(rows_of(samples_source), summary.nodes)
    marks = [e.t for e in events if e.kind == "scenario"][:MAX_EVENT_MARKS]
    title = f"{summary.scenario} (seed {summary.seed}, {summary.nodes} nodes)"
    drawers: list[tuple[str, Drawer]] = [
        ("gateway.png", draw_gateway),
        ("k.png", draw_k),
        ("migrations.png", draw_migrations),
        ("groups.png", draw_groups),
    ]
    written = []
    for name, draw in drawers:
        path = directory / name
        _save(path, draw, data, marks, title)
        written.append(path)
    return written


def _save(path: Path, draw: Drawer, data: ChartData, marks: list[float], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure = pyplot.figure(figsize=(10, 5.5), layout="constrained")
    try:
        draw(data, figure, marks, title)
        figure.savefig(path, format="png", dpi=DPI)
    finally:
        pyplot.close(figure)


def _lines(axes: Axes, times: list[float], lines: dict[str, list[float]], style: str = "-") -> None:
    for name in sorted(lines, key=natural_key):
        axes.plot(times, lines[name], style, label=name, linewidth=1.0)


def _finish(axes: Axes, marks: list[float], ylabel: str, legend: bool = True) -> None:
    for t in marks:
        axes.axvline(t, color="grey", linestyle=":", linewidth=0.8)
    axes.set_ylabel(ylabel)
    axes.grid(visible=True, alpha=0.3)
    handles, _ = axes.get_legend_handles_labels()
    if legend and 0 < len(handles) <= MAX_LEGEND:
        axes.legend(
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            fontsize="small",
            ncols=1 + len(handles) // 16,
        )


def _what(data: ChartData) -> str:  # how gateway.png's lines are made
    return "per node" if data.per_node else "sum per feeder"


def draw_gateway(data: ChartData, figure: Figure, marks: list[float], title: str) -> None:
    top, bottom = figure.subplots(2, 1, sharex=True)
    _lines(top, data.times, data.gateway)
    _finish(top, marks, "gateway G, kW")
    _lines(bottom, data.times, data.net_generation)
    _finish(bottom, marks, "net generation NG, kW", legend=False)
    bottom.set_xlabel("virtual seconds")
    figure.suptitle(f"{title}: {_what(data)}")


def draw_k(data: ChartData, figure: Figure, marks: list[float], title: str) -> None:
    axes = figure.subplots()
    _lines(axes, data.times, data.k)
    _finish(axes, marks, "K, kW")
    axes.set_xlabel("virtual seconds")
    what = "per node" if data.per_node else "mean per feeder over its running nodes"
    axes.set_title(f"{title}: K {what}")


def draw_migrations(data: ChartData, figure: Figure, marks: list[float], title: str) -> None:
    from matplotlib.ticker import MaxNLocator

    axes = figure.subplots()
    axes.step(data.times, data.migrations, where="post", color="tab:blue", label="migrations")
    _finish(axes, marks, "migrations completed (cumulative)", legend=False)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    right = axes.twinx()
    right.plot(data.times, data.messages, color="tab:orange", label="datagrams sent")
    right.set_ylabel("datagrams sent (cumulative)")
    handles = axes.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    axes.legend(handles=handles, loc="upper left")
    axes.set_xlabel("virtual seconds")
    axes.set_title(title)


def draw_groups(data: ChartData, figure: Figure, marks: list[float], title: str) -> None:
    axes = figure.subplots()
    if data.per_node:
        _bands(axes, data)
    else:
        from matplotlib.ticker import MaxNLocator

        axes.step(data.times, data.group_count, where="post", label="groups (a node alone is one)")
        axes.step(data.times, data.largest_group, where="post", label="largest group (nodes)")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        _finish(axes, marks, "groups / nodes")
    axes.set_xlabel("virtual seconds")
    axes.set_title(title)


def _edges(times: list[float]) -> list[float]:
    """Cell edges around each sampling instant (the last cell as wide as the one before)."""
    if not times:
        return [0.0, 1.0]
    step = times[-1] - times[-2] if len(times) > 1 else 1.0
    return [*times, times[-1] + step]


def _bands(axes: Axes, data: ChartData) -> None:
    """Per node a band coloured by its group's leader (grey: alone; blank: down)."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap, to_hex
    from matplotlib.patches import Patch

    nodes = sorted(data.bands, key=natural_key)
    leaders = sorted(
        {b for line in data.bands.values() for b in line} - {"", ALONE}, key=natural_key
    )
    labels = [ALONE, *leaders]
    tab20 = colormaps["tab20"]
    palette = ["lightgrey", *(to_hex(tab20(i % 20)) for i in range(len(leaders)))]
    code = {label: float(i) for i, label in enumerate(labels)}
    matrix = [[code.get(b, float("nan")) for b in data.bands[node]] for node in nodes]
    if nodes and data.times:
        axes.pcolormesh(
            _edges(data.times),
            [i - 0.5 for i in range(len(nodes) + 1)],
            matrix,
            cmap=ListedColormap(palette),
            vmin=-0.5,
            vmax=len(labels) - 0.5,
        )
    axes.set_yticks(range(len(nodes)), nodes, fontsize="small")
    axes.set_ylabel("node")
    shown = [Patch(color=palette[0], label="alone")]
    shown += [Patch(color=palette[i + 1], label=f"led by {name}") for i, name in enumerate(leaders)]
    axes.legend(
        handles=shown[:MAX_LEGEND], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small"
    )
