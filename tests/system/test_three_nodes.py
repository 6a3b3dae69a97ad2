"""The simulator and three ``dgi run`` processes on 127.0.0.1, observed from outside through
Modbus only (as a lab engineer would with any Modbus client).

FREEDM's 2012 HIL script, test 1 and 2: gateways start at -20, 10, -20 kW with net
generations -10, -10, -10 — the nodes must converge; then the loads step so that the net
generations become 5, -25, -10 — they must converge again. The sum of the setpoint changes is
zero throughout, in both modes.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.loader import load_site
from config.site import Site
from tests.conftest import ROOT, copy_site
from tests.system.lab import Observer

DGI = [sys.executable, "-m", "controller"]
NODES = ("sst1", "sst2", "sst3")


def site_file(tmp_path: Path, mode: str) -> Path:
    """three-substations on free ports, SSTs without lag, the given mode, a fresh key file."""
    path = copy_site("three-substations.toml", tmp_path)
    text = (
        path.read_text()
        .replace("lag_s = 0.2", "lag_s = 0.0")
        .replace('mode = "adaptive"', f'mode = "{mode}"')
    )
    path.write_text(text)
    subprocess.run(
        [*DGI, "keygen", str(tmp_path / "group.key")], check=True, capture_output=True, cwd=ROOT
    )
    return path


class Watcher(Observer):
    """The devices of the site, and what they held when the nodes started."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.initial: dict[str, float] = {}

    async def wait_balanced(self, within: float, limit_s: float) -> dict[str, dict[str, float]]:
        deadline = time.monotonic() + limit_s
        while True:
            figures = await self.figures()
            if all(abs(f["gateway"] - f["net_generation"]) <= within for f in figures.values()):
                return figures
            if time.monotonic() > deadline:
                pytest.fail(f"not balanced within {within} kW after {limit_s} s: {figures}")
            await asyncio.sleep(0.1)

    async def wait_quiet(
        self, still_s: float = 2.5, limit_s: float = 30
    ) -> dict[str, dict[str, float]]:
        """Until no setpoint has moved for ``still_s`` (two cycles): no migration half-done.

        A migration changes the two setpoints one after the other (FREEDM: supply first,
        optimistically; adaptive: demand first, provisionally), so the sum is only judged
        once nothing is in flight.
        """
        deadline = time.monotonic() + limit_s
        figures = await self.figures()
        last, since = {n: figures[n]["pstar"] for n in NODES}, time.monotonic()
        while time.monotonic() - since < still_s:
            assert time.monotonic() < deadline, f"setpoints still moving after {limit_s} s"
            await asyncio.sleep(0.1)
            figures = await self.figures()
            now = {n: figures[n]["pstar"] for n in NODES}
            if now != last:
                last, since = now, time.monotonic()
        return figures

    def setpoint_sum_change(self, figures: dict[str, dict[str, float]]) -> float:
        return sum(figures[n]["pstar"] - self.initial[n] for n in NODES)


@pytest.fixture
async def observer(
    request: pytest.FixtureRequest, tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> AsyncIterator[Watcher]:
    mode = request.param
    path = site_file(tmp_path, mode)
    endpoints = tmp_path / "endpoints.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    processes.append(
        subprocess.Popen([*DGI, "simulate", "--config", str(path), "--endpoints", str(endpoints)], cwd=ROOT,
                         stdout=(logs / "simulate.log").open("wb"), stderr=subprocess.STDOUT)
    )  # fmt: skip
    deadline = time.monotonic() + 20
    while not endpoints.exists():
        assert time.monotonic() < deadline, "the simulator did not start"
        await asyncio.sleep(0.05)
    assert len(json.loads(endpoints.read_text())) == 18
    site = load_site(path)
    watcher = Watcher(site)
    figures = await watcher.figures()
    watcher.initial = {n: figures[n]["pstar"] for n in NODES}
    for node in NODES:
        processes.append(
            subprocess.Popen([*DGI, "run", "--config", str(path), "--node", node, "--hold-on-exit"], cwd=ROOT,
                             stdout=(logs / f"{node}.log").open("wb"), stderr=subprocess.STDOUT)
        )  # fmt: skip
    yield watcher
    await watcher.close()
    for proc in processes:
        assert proc.poll() is None, f"a process died: see {logs}"


@pytest.mark.parametrize("observer", ["adaptive", "freedm"], indirect=True)
async def test_three_nodes_converge_then_follow_a_load_step(
    observer: Watcher, request: pytest.FixtureRequest
) -> None:
    mode = request.node.callspec.params["observer"]
    within = 0.05 if mode == "adaptive" else 1.0  # FREEDM stops inside its ±step band
    figures = await observer.figures()
    assert [figures[n]["gateway"] for n in NODES] == [-20.0, 10.0, -20.0]
    assert [figures[n]["net_generation"] for n in NODES] == [-10.0, -10.0, -10.0]

    await observer.wait_balanced(within, limit_s=30)
    figures = await observer.wait_quiet()
    assert all(abs(f["gateway"] - f["net_generation"]) <= within for f in figures.values())
    assert observer.setpoint_sum_change(figures) == pytest.approx(0.0, abs=1e-9)

    # the lab steps the loads: drains 20 → 5 at sst1 and 25 → 40 at sst2
    await observer.drivers["sst1-load"].write("drain", 5.0)
    await observer.drivers["sst2-load"].write("drain", 40.0)
    figures = await observer.figures()
    assert [figures[n]["net_generation"] for n in NODES] == [5.0, -25.0, -10.0]

    await observer.wait_balanced(within, limit_s=30)
    figures = await observer.wait_quiet()
    assert all(abs(f["gateway"] - f["net_generation"]) <= within for f in figures.values())
    assert observer.setpoint_sum_change(figures) == pytest.approx(0.0, abs=1e-9)
