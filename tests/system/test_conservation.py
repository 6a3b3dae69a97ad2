"""Conservation and device truth, tried as a lab would break them (issue 7).

The README's site as separate processes (``dgi simulate``, three ``dgi run``): one node's
devices answer 20-50 ms late while loads and PV walk randomly for a minute; the simulator is
SIGKILLed and started again under the running group. Judged by ``dgi audit`` and by reading
the devices here over Modbus: the setpoints the SSTs hold sum to their baseline (within the
migration quantum) and every node's command is what its SST holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from pathlib import Path

import pytest

from controller.lb.settings import QUANTUM
from tests.system.lab import Lab, Observer, until

NODES = ("sst1", "sst2", "sst3")


@pytest.fixture
def lab(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> Lab:
    return Lab.create(tmp_path, processes)


async def assert_consistent(lab: Lab, observer: Observer, baseline: dict[str, float]) -> None:
    """``dgi audit`` says so, and so do the devices, read here."""
    result = lab.audit("--baseline", str(lab.directory / "baseline.json"), "--wait", "30", "--json")
    verdict = json.loads(result.stdout)
    assert result.returncode == 0, json.dumps(verdict, indent=2)
    assert verdict["consistent"]
    assert abs(verdict["setpoint_sum_change"]) <= QUANTUM
    figures = await observer.figures()
    assert abs(sum(figures[n]["pstar"] - baseline[n] for n in NODES)) <= QUANTUM, figures
    for node in NODES:
        status = lab.api(node, "/api/v1/status")
        assert status["commanded"] == pytest.approx(figures[node]["pstar"], abs=1e-3), node
        assert status["disagreement"] is None


def save_baseline(lab: Lab) -> dict[str, float]:
    path = lab.directory / "baseline.json"
    result = lab.audit("--save-baseline", str(path))
    assert result.returncode == 0, result.stderr
    baseline = {n: e["held"] for n, e in json.loads(path.read_text())["nodes"].items()}
    assert baseline == {"sst1": -20.0, "sst2": 10.0, "sst3": -20.0}
    return baseline


async def random_walk(observer: Observer, seconds: float, seed: int) -> int:
    """Loads and PV change every 0.3 s, somewhere on the site (seeded); returns the steps."""
    rng = random.Random(seed)
    figures = {f"{n}-load": 20.0 for n in NODES} | {f"{n}-pv": 10.0 for n in NODES}
    steps, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        device = rng.choice(sorted(figures))
        point = "drain" if device.endswith("load") else "generation"
        figures[device] = min(35.0, max(0.0, figures[device] + rng.uniform(-4.0, 4.0)))
        await observer.write(device, point, round(figures[device], 2))
        steps += 1
        await asyncio.sleep(0.3)
    return steps


async def test_slow_devices_and_a_random_walk_lose_no_migration(lab: Lab) -> None:
    lab.start_simulator()
    baseline = save_baseline(lab)
    for node in NODES:
        lab.start_node(node)
    for device in ("gateway", "storage", "pv", "load", "logger", "omega"):
        lab.fault(f"sst2-{device}", "latency_ms=20", "jitter_ms=30", f"seed={len(device)}")
    observer = Observer(lab.site)
    try:
        await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")
        steps = await random_walk(observer, 60.0, seed=7)
        assert steps > 150
        lab.alive()
        await assert_consistent(lab, observer, baseline)
        migrations = sum(lab.api(n, "/api/v1/status")["counters"]["migrations_in"] for n in NODES)
        assert migrations > 20  # the walk kept the group busy
        shown = lab.fault("--show")["devices"]["sst2-gateway"]  # the latency really applied
        assert shown["latency_ms"] == 20.0
        assert shown["requests"] > 300
    finally:
        await observer.close()


async def test_simulator_killed_and_restarted_under_a_running_group(lab: Lab) -> None:
    lab.start_simulator()
    baseline = save_baseline(lab)
    for node in NODES:
        lab.start_node(node)
    observer = Observer(lab.site)
    try:
        await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")
        await assert_consistent(lab, observer, baseline)
        lab.kill_simulator()
        await until(lambda: lab.api("sst1", "/api/v1/status")["released"], 15, "the release")
        assert not lab.ready("sst1")[0]
        await asyncio.sleep(6)  # 12 s down in all
        lab.start_simulator()  # the SSTs come back at their initial PStar: -20, 10, -20
        await observer.read("sst1-gateway")
        started = time.monotonic()
        await assert_consistent(lab, observer, baseline)
        assert time.monotonic() - started < 30
        for node in NODES:
            counters = lab.api(node, "/api/v1/status")["counters"]
            assert counters["failsafe_releases"] == 1
            assert counters["command_disagreements"] >= 1  # seen, and reconciled
        lab.alive()
    finally:
        await observer.close()
