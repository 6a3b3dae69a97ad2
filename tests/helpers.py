"""Test helpers: site variants built from the shipped examples."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
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


async def run_mbpoll(
    host: str, port: int, *args: str, unit: int = 1, write: str | None = None
) -> tuple[int, str]:
    """Run mbpoll (libmodbus's client) once (-1, 0-based addresses) against host:port and a
    unit; return its exit status and output. Skips (or fails, DGI_REQUIRE_TOOLS=1) without it."""
    from tests.conftest import require_tool

    values = [write] if write is not None else []
    proc = await asyncio.create_subprocess_exec(
        require_tool("mbpoll"), "-m", "tcp", "-p", str(port), "-a", str(unit), "-0", "-1",
        *args, "--", host, *values,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 10)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode()


def mbpoll_values(output: str) -> dict[int, float]:
    """mbpoll's ``[address]: value`` lines."""
    return {int(a): float(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(\S+)", output, re.M)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_during(pid: int, seconds: float) -> float:
    """The CPU time a process uses while the test waits ``seconds``."""
    before = cpu_seconds(pid)
    await asyncio.sleep(seconds)
    return cpu_seconds(pid) - before


def simserver_process(config: Path) -> subprocess.Popen[str]:
    """``dgi simserver --config FILE`` of this tree, as a process (stdout, stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "controller", "simserver", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip


def terminated(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """Stop a process with SIGTERM, check it exited 0, and return its output."""
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    return out, err


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


def add_devices(text: str, node_id: str, devices: str) -> str:
    """A site file's text with ``devices`` (``[[nodes.devices]]`` tables) at the end of node
    ``node_id``'s table, before the next ``[[nodes]]`` (TOML puts them in the last node)."""
    start = text.index(f'\nid = "{node_id}"\n')
    end = text.find("\n[[nodes]]\n", start)
    end = len(text) if end < 0 else end
    return f"{text[:end].rstrip()}\n\n{devices.strip()}\n{text[end:]}"


def fake_meter(device_id: str, **values: float) -> str:
    """A ``Meter`` on transport fake holding ``values`` (voltage, loading, ...)."""
    held = ", ".join(f"{name} = {value}" for name, value in values.items())
    return (
        f'[[nodes.devices]]\nid = "{device_id}"\ntype = "Meter"\ntransport = "fake"\n'
        f'profile = "meter"\nvalues = {{ {held} }}\n'
    )


def simulated_meter(device_id: str, port: int = 0) -> str:
    """A ``Meter`` served over Modbus/TCP by the simulator: it holds no value until the plant
    gives it some (a power flow, or ``plant.override`` in a test)."""
    return (
        f'[[nodes.devices]]\nid = "{device_id}"\ntype = "Meter"\ntransport = "simulated"\n'
        f'host = "127.0.0.1"\nport = {port}\nprofile = "meter"\n'
    )
