"""Process life-cycle helpers for the command line: stop signals and starting the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

from rich.console import Console, RenderableType
from rich.live import Live

from config.site import Site, split_host_port
from simulators.modbus_server import ServeError
from simulators.runner import Simulation


async def wait_for_stop(duration: float | None) -> None:
    """Until Ctrl-C / SIGTERM, or ``duration`` seconds."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await asyncio.wait_for(stop.wait(), duration)
    except TimeoutError:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def show_until_stop(
    render: Callable[[], RenderableType],
    console: Console,
    duration: float | None,
    *,
    every_s: float = 0.25,
    work: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Until Ctrl-C or ``duration``: run ``work`` and refresh a live view every ``every_s``
    on a terminal; elsewhere (a pipe, a log) keep working and print the view once at the end."""
    live = Live(render(), console=console, refresh_per_second=4) if console.is_terminal else None

    async def refresh() -> None:
        while True:
            if work is not None:
                await work()
            if live is not None:
                live.update(render())
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
        console.print(render())


async def start_simulation(
    site: Site, console: Console, *, control: tuple[str, int] | None = None
) -> Simulation | None:
    """Start a site's simulator, or print why it cannot be served and return None.

    ``control`` (else the site's ``[simulation] control``) is where fault commands are taken.
    """
    if control is None and site.simulation.control is not None:
        control = split_host_port(site.simulation.control)
    sim = Simulation(site, control=control)
    try:
        await sim.start()
    except ServeError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return None
    return sim
