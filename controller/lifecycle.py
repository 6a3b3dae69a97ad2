"""Process life-cycle helpers for the command line: stop signals and starting the simulator."""

from __future__ import annotations

import asyncio
import signal

from rich.console import Console

from config.site import Site
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


async def start_simulation(site: Site, console: Console) -> Simulation | None:
    """Start a site's simulator, or print why it cannot be served and return None."""
    sim = Simulation(site)
    try:
        await sim.start()
    except ServeError as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return None
    return sim
