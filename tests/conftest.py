"""Shared fixtures: external tools, leftover tasks, free ports, example sites on free ports."""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "config" / "examples"
#: The example sites (simserver.toml configures `dgi simserver`: it has no [site]).
EXAMPLE_NAMES = sorted(
    path.name for path in EXAMPLES.glob("*.toml") if "\n[site]" in "\n" + path.read_text()
)
#: The examples `dgi simulate` serves whole (lab-modbus.toml names real devices only).
SIMULATED_EXAMPLES = [
    name for name in EXAMPLE_NAMES if 'transport = "simulated"' in (EXAMPLES / name).read_text()
]


def require_tool(name: str) -> str:
    """Path of an external program; skip without it, or fail when DGI_REQUIRE_TOOLS=1 (CI)."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (Debian package; .ci/run installs it)"
        if os.environ.get("DGI_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


_GIVEN: set[int] = set()


def free_port() -> int:
    """A port for a site file, below the kernel's ephemeral range (32768-60999).

    A port the kernel picks for ``bind(0)`` comes from the ephemeral range, which outgoing
    connections also draw from: between the test choosing it and a server binding it, some
    client socket can take it. Ports below the range are never handed out that way.
    """
    rng = random.Random()
    for _ in range(1000):
        port = rng.randrange(20000, 32768)
        if port in _GIVEN:
            continue
        try:
            with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                tcp.bind(("127.0.0.1", port))
                udp.bind(("127.0.0.1", port))
        except OSError:
            continue
        _GIVEN.add(port)
        return port
    raise RuntimeError("no free port found in 20000-32767")


def group_alive(group: int) -> bool:
    """Whether any process of the process group ``group`` still runs."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def group_ends(group: int, within_s: float) -> bool:
    """Wait up to ``within_s`` for every process of ``group`` to end; whether they did."""
    deadline = time.monotonic() + within_s
    while group_alive(group) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not group_alive(group)


def kill_group(group: int) -> None:
    """SIGKILL whatever of ``group`` is left (a test's clean-up)."""
    if group_alive(group):
        os.killpg(group, signal.SIGKILL)


def rewrite_ports(text: str) -> str:
    """Give every ``port = N`` and ``host:N`` address in a site file a free port."""
    text = re.sub(r"(?m)^(\s*port\s*=\s*)\d+", lambda m: f"{m.group(1)}{free_port()}", text)
    return re.sub(r'"127\.0\.0\.1:\d+"', lambda m: f'"127.0.0.1:{free_port()}"', text)


def copy_site(name: str, directory: Path, *, free_ports: bool = True) -> Path:
    """Copy an example site into ``directory`` (ports made free), with the series files it
    plays and the topology file it names, and return its path."""
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    target = directory / name
    target.write_text(rewrite_ports(text) if free_ports else text, encoding="utf-8")
    topology = tomllib.loads(text)["site"].get("topology_file")
    if topology is not None:
        shutil.copy(EXAMPLES / topology, directory / topology)
    series = directory / "series"
    if not series.exists():
        series.symlink_to(EXAMPLES / "series", target_is_directory=True)
    return target


@pytest.fixture(autouse=True)
async def no_leftover_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running (pymodbus's own suite does the same)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    left = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    for task in left:
        task.cancel()
    assert not left, f"test left tasks running: {left}"


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[Any]]]:
    """Processes a test starts: each is stopped afterwards by its own pid (TERM, then KILL)."""
    started: list[subprocess.Popen[Any]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
    for proc in started:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def pty_pair(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two linked pseudo-terminals from socat: (server end, client end)."""
    socat = require_tool("socat")
    a, b = tmp_path / "ttyA", tmp_path / "ttyB"
    proc = subprocess.Popen(
        [socat, "-d", "-d", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"],
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 5
        while not (a.exists() and b.exists()):
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("socat did not create the pty pair within 5 s")
            time.sleep(0.02)
        yield str(a), str(b)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
