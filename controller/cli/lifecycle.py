"""Process life-cycle helpers for the command line: stop signals and starting the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable
from typing import TypeVar

from rich.console import Console, RenderableType
from rich.live import Live

from config.settings import PlantKind
from config.site import Site, split_host_port
from controller.cli.entry import EARLY
from simulators.modbus_server import ServeError
from simulators.runner import Simulation
from simulators.site_plant import PlantError

T = TypeVar("T")
_STOPS: list[asyncio.Event] = []  # the stop events of the signal scopes in force, innermost last
SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def stoppable(work: Awaitable[T]) -> T:
    """Run ``work`` with Ctrl-C and SIGTERM caught from its first moment to its last: a stop
    signal during start-up or clean-up then ends the program as cleanly as one while it runs
    (it is noted, and :func:`wait_for_stop` returns at once), never with a traceback."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in SIGNALS:
        loop.add_signal_handler(sig, stop.set)
    if EARLY:  # a stop signal came before (its exception may have been lost): stop now
        stop.set()
    _STOPS.append(stop)
    try:
        return await work
    finally:
        _STOPS.remove(stop)
        for sig in SIGNALS:
            loop.remove_signal_handler(sig)
        if _STOPS:  # an outer scope takes the signals again
            for sig in SIGNALS:
                loop.add_signal_handler(sig, _STOPS[-1].set)


async def wait_for_stop(duration: float | None) -> None:
    """Until Ctrl-C / SIGTERM (also one that came before this call), or ``duration`` s."""
    if not _STOPS:
        await stoppable(wait_for_stop(duration))
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_STOPS[-1].wait(), duration)


def request_stop() -> None:
    """Stop as a stop signal would (the innermost :func:`stoppable` scope)."""
    if _STOPS:
        _STOPS[-1].set()


def _output_gone(console: Console) -> None:
    """The reader of a pipe went away (``dgi demo | head``): print nothing more — also not at
    exit, where Python would flush into the closed pipe — and stop cleanly."""
    console.quiet = True
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, console.file.fileno())
        os.close(devnull)
    request_stop()


async def show_until_stop(
    render: Callable[[], RenderableType],
    console: Console,
    duration: float | None,
    *,
    every_s: float = 0.25,
    work: Callable[[], Awaitable[None]] | None = None,
    line: Callable[[], str] | None = None,
) -> None:
    """Until Ctrl-C or ``duration``: run ``work`` and redraw a live view in place every
    ``every_s`` on a terminal. Elsewhere (a pipe, a log) keep working, print ``line()`` once a
    second if given, and print the view once at the end."""
    live = Live(render(), console=console, refresh_per_second=4) if console.is_terminal else None
    printed = -1.0

    async def refresh() -> None:
        nonlocal printed
        loop = asyncio.get_running_loop()
        while True:
            if work is not None:
                await work()
            if live is not None:
                live.update(render())
            elif line is not None and loop.time() >= printed + 1.0:
                # once a second on the second (a late tick does not push the next one later)
                printed = loop.time() if printed < 0 else max(printed + 1.0, loop.time() - 0.5)
                try:
                    console.print(line(), highlight=False, soft_wrap=True)
                    console.file.flush()  # a pipe is block-buffered: `| tee log` shows each
                except (BrokenPipeError, SystemExit):  # rich raises SystemExit on a broken pipe
                    _output_gone(console)
                    return
            await asyncio.sleep(every_s)

    with live or contextlib.nullcontext():
        task = asyncio.create_task(refresh(), name="live view")
        try:
            await wait_for_stop(duration)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if live is None:
        try:
            console.print(render())
        except (BrokenPipeError, SystemExit):
            _output_gone(console)


async def start_simulation(
    site: Site,
    console: Console,
    *,
    control: tuple[str, int] | None = None,
    plant: PlantKind | None = None,
) -> Simulation | None:
    """Start a site's simulator, or print why it cannot be served and return None.

    ``control`` (else the site's ``[simulation] control``) is where fault commands are taken;
    ``plant`` overrides ``[simulation] plant``.
    """
    if control is None and site.simulation.control is not None:
        control = split_host_port(site.simulation.control)
    try:
        sim = Simulation(site, control=control, plant=plant)
    except PlantError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        return None
    try:
        await sim.start()
    except ServeError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return None
    return sim
