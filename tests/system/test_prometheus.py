"""Prometheus (the Debian package) scrapes three demo nodes with the generated configuration
and the shipped rules; an overload makes the overload alert fire in time, and a load above the
capacity makes EVOverload fire after its 10 s (two scrape intervals), not before."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver
from tests.conftest import ROOT, free_port, require_tool
from tests.system.conftest import Demo

SCRAPE_S = 5.0
FOR_S = 30.0
EV_FOR_S = 10.0


@pytest.fixture
def prometheus(demo: Demo, tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> str:
    """Prometheus scraping the demo (stopped by the ``processes`` fixture); its base URL."""
    binary = require_tool("prometheus")
    config = subprocess.run(
        [sys.executable, "-m", "controller", "prometheus-config", str(demo.site_path)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(config)
    shutil.copy(ROOT / "monitoring" / "prometheus" / "rules.yml", tmp_path / "rules.yml")
    address = f"127.0.0.1:{free_port()}"
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address={address}", "--log.level=warn"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    processes.append(process)
    base = f"http://{address}"
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, (tmp_path / "prometheus.log").read_text()
        try:
            if httpx.get(f"{base}/-/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "prometheus did not become ready"
        time.sleep(0.2)
    return base


def query(base: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert answer["status"] == "success", answer
    return list(answer["data"]["result"])


def wait_for(what: str, limit_s: float, check: Any) -> Any:
    deadline = time.monotonic() + limit_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {limit_s} s"
        time.sleep(0.5)


def test_prometheus_scrapes_every_node_and_the_overload_alert_fires(
    demo: Demo, prometheus: str
) -> None:
    wait_for(
        "three targets up",
        30,
        lambda: len([r for r in query(prometheus, 'up{job="dgi"} == 1')]) == 3,
    )
    sessions = query(prometheus, "substation_current_load")
    assert sorted(r["metric"]["substation"] for r in sessions) == ["sst1", "sst2", "sst3"]
    gateways = query(prometheus, "dgi_gateway_kw")
    assert sorted(r["metric"]["node"] for r in gateways) == ["sst1", "sst2", "sst3"]
    assert all(r["metric"]["site"] == "three-substations" for r in gateways)

    # overload sst1: its load meter reads 59 kW of its 60 kW (the lab steps the load)
    step_load_and_time_alert(demo, prometheus, 59.0, "SubstationOverload", FOR_S)
    assert {a["substation"] for a in alerts(prometheus, "SubstationOverload")} == {"sst1"}
    assert alerts(prometheus, "EVOverload") == []  # 59 kW of 60: near, not above

    # above its capacity: 61 kW of 60
    step_load_and_time_alert(demo, prometheus, 61.0, "EVOverload", EV_FOR_S)
    assert [(a["substation"], a["reason"]) for a in alerts(prometheus, "EVOverload")] == [
        ("sst1", "load")
    ]


def step_load_and_time_alert(demo: Demo, base: str, kw: float, alert: str, for_s: float) -> None:
    """Step sst1's load to ``kw``; once its node sees it, ``alert`` must fire for sst1 after its
    ``for`` and at most two scrapes (and a margin) later."""
    asyncio.run(set_drain(demo, "sst1-load", kw))
    wait_for(
        "the node to see the load",
        10,
        lambda: httpx.get(demo.url("sst1", "/api/v1/status")).json()["net_generation"] == 10.0 - kw,
    )
    started = time.monotonic()
    limit_s = for_s + 2 * SCRAPE_S + 2
    wait_for(f"{alert} firing", limit_s, lambda: firing(base, alert))
    elapsed = time.monotonic() - started
    assert for_s <= elapsed <= limit_s, elapsed


def alerts(
    base: str, name: str, *, states: tuple[str, ...] = ("pending", "firing")
) -> list[dict[str, str]]:
    """The labels of the alerts called ``name`` in one of ``states``."""
    every = httpx.get(f"{base}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return [a["labels"] for a in every if a["labels"]["alertname"] == name and a["state"] in states]


def firing(base: str, name: str) -> bool:
    return any(a["substation"] == "sst1" for a in alerts(base, name, states=("firing",)))


async def set_drain(demo: Demo, device_id: str, kw: float) -> None:
    pool = LinkPool()
    async with build_driver(demo.site.device(device_id), Connections(pool)) as driver:
        await driver.write("drain", kw)
    pool.close()
