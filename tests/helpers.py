"""Test helpers: site variants built from the shipped examples."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from config.loader import load_site
from config.site import Device, Site
from device_drivers.base import DeviceDriver
from device_drivers.errors import DriverError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "config" / "examples"


async def read_until_fresh(
    driver: DeviceDriver, attempts: int = 100, pause_s: float = 0.05
) -> None:
    """Poll like a node does until the device answers (the link reconnects by itself)."""
    for _ in range(attempts):
        try:
            await driver.read_all()
            return
        except DriverError:
            await asyncio.sleep(pause_s)


async def until(
    condition: Callable[[], Any], within_s: float, what: str, *, every_s: float = 0.2
) -> Any:
    """Poll ``condition`` (sync or async) until it is true; return its value. A driver
    error, an HTTP error or a missing key counts as not yet."""
    deadline = time.monotonic() + within_s
    last: Any = None
    while True:
        try:
            last = condition()
            if asyncio.iscoroutine(last):
                last = await last
        except (httpx.HTTPError, DriverError, KeyError, ValueError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        assert time.monotonic() < deadline, f"{what} did not happen within {within_s} s: {last!r}"
        await asyncio.sleep(every_s)


def example(name: str) -> Site:
    return load_site(EXAMPLES / name)


def vary(
    site: Site,
    change: Callable[[Device], dict[str, Any]],
    sim: Callable[[Device], dict[str, Any]] | None = None,
) -> Site:
    """A copy of ``site`` with each device's entry (and sim table) updated."""
    devices = []
    for device in site.devices:
        entry = device.entry.model_copy(update=change(device))
        device_sim = device.sim
        if sim is not None and device_sim is not None:
            device_sim = device_sim.model_copy(update=sim(device))
        devices.append(dataclasses.replace(device, entry=entry, sim=device_sim))
    return dataclasses.replace(site, devices=tuple(devices))


def on_any_port(site: Site) -> Site:
    """Every simulated TCP device on port 0 (the simulator picks free ports)."""
    return vary(site, lambda d: {"port": 0} if d.simulated else {})


def on_rtu_bus(site: Site, server_end: str, client_end: str, timeout_s: float = 0.3) -> Site:
    """Every device on one RTU bus (a pty pair): unit ids 1..n."""
    units = {d.id: n for n, d in enumerate(site.devices, start=1)}
    return vary(
        site,
        lambda d: {
            "host": None,
            "port": None,
            "serial_port": client_end,
            "unit": units[d.id],
            "timeout_s": timeout_s,
        },
        sim=lambda d: {"serve_serial_port": server_end},
    )
