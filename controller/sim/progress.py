"""``dgi sim``'s progress bar: virtual time done out of the scenario's duration, and the wall
seconds so far, on stderr.

The CLI decides whether to show it (:func:`wanted`: stderr is a terminal and the run is
expected to last more than a few wall seconds); when not shown, :func:`progress` hands back a
callback that does nothing, so tests and pipes see no output and pay no cost. The engine calls
the callback with the virtual time it reached, as often as it likes: the bar redraws at most
a few times a second.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

FEW_SECONDS = 3.0  # a run expected to be shorter shows no bar

Advance = Callable[[float], None]  # called with the virtual seconds reached


def wanted(expected_wall_s: float, *, terminal: bool) -> bool:
    """Show a bar: stderr is a terminal and the run should take more than a few seconds."""
    return terminal and expected_wall_s > FEW_SECONDS


def _nothing(t: float) -> None:
    return None


@contextlib.contextmanager
def progress(
    duration_s: float, *, show: bool, console: Console | None = None, label: str = "virtual time"
) -> Iterator[Advance]:
    """A bar from 0 to ``duration_s`` virtual seconds while the block runs, when ``show``;
    yields the callback to report the virtual time reached. ``console``: stderr unless given."""
    if not show:
        yield _nothing
        return
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.1f} / {task.total:.1f} s"),
        TextColumn("wall"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
        refresh_per_second=4,
        transient=False,
    )
    task = bar.add_task(label, total=max(duration_s, 0.0))

    def advance(t: float) -> None:
        bar.update(task, completed=min(max(t, 0.0), duration_s))

    with bar:
        yield advance  # leaving the block stops the bar with a last redraw
