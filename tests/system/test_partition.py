"""A site split by its network, and healed: real processes on a real (virtual) network.

Each ``dgi run`` has a network namespace of its own, linked to a hub namespace where
``dgi simulate`` serves every device (``tests/system/netns.py``). The test cuts {sst1, sst2}
from {sst3} between the nodes only — every node still reads and writes its devices — and
proves, through each node's ``/api/v1/status`` and the devices themselves:

- two groups form: sst1 and sst2 report one group {sst1, sst2} led by sst1, sst3 a group of
  itself; both sides keep running LB rounds;
- the island {sst1, sst2} balances by itself after its loads step (its gateways meet their
  new net generations, its setpoints' sum does not change), and no migration crosses the cut
  (sst3's setpoint stays where it was);
- healed, all three report one group with one leader within two GM cycles (and a margin, as
  ``test_group.py``), become ready, and ``dgi audit`` finds every migration whole.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_site
from config.site import Site
from tests.conftest import copy_site
from tests.system.lab import Observer, dgi, until
from tests.system.netns import Inside, Network, require_namespaces

NODES = ("sst1", "sst2", "sst3")
ISLAND = ("sst1", "sst2")
CYCLE_S = 1.24  # fast-5
# two GM cycles, plus the round after which a node publishes what its GM phase decided
WITHIN_S = 2 * CYCLE_S + 0.5
BALANCED_KW = 0.05  # adaptive mode
PYTHON = sys.executable

View = tuple[str, tuple[str, ...], str]  # leader, group, group id


@pytest.fixture
def network() -> Iterator[Network]:
    ip = require_namespaces()
    network = Network(ip, NODES)
    try:
        network.create()
        yield network
    finally:
        network.close()


def site_in(network: Network, directory: Path) -> tuple[Path, Site]:
    """three-substations with each node's API and peer on its namespace's address, and its
    devices on the hub's address of its link. Fixed ports: the namespaces are private."""
    path = copy_site("three-substations.toml", directory, free_ports=False)
    text = path.read_text()

    def node(m: re.Match[str]) -> str:
        return f'"{network.address(NODES[int(m[2]) - 1])}:{m[1]}10{m[2]}"'

    def device(m: re.Match[str]) -> str:
        return f'host = "{network.hub_address(NODES[int(m[2]) - 1])}"{m[1]}'

    text, nodes = re.subn(r'"127\.0\.0\.1:([89])10(\d)"', node, text)
    text, devices = re.subn(r'host = "127\.0\.0\.1"(\nport = 15(\d)\d\d)', device, text)
    assert (nodes, devices) == (6, 18)
    path.write_text(text)
    assert dgi("keygen", str(directory / "group.key")).returncode == 0
    assert dgi("api-token", str(directory / "api.token")).returncode == 0
    return path, load_site(path)


class Site3:
    """The site as seen from the hub: the nodes' APIs and the devices."""

    def __init__(self, network: Network, path: Path, site: Site, logs: Path) -> None:
        self.network = network
        self.path = path
        self.site = site
        self.logs = logs
        self.hub: Inside = network.inside_hub()
        self.observer: Observer | None = None

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-4000:]

    async def _get(self, paths: dict[str, str]) -> dict[str, httpx.Response]:
        async with httpx.AsyncClient(timeout=2) as client:
            answers = await asyncio.gather(
                *(client.get(f"http://{self.site.node(n).api}{p}") for n, p in paths.items())
            )
        return dict(zip(paths, answers, strict=True))

    async def statuses(self, nodes: tuple[str, ...] = NODES) -> dict[str, dict[str, Any]]:
        answers = await self.hub.run(self._get({n: "/api/v1/status" for n in nodes}))
        return {n: a.json() for n, a in answers.items()}

    async def views(self) -> dict[str, View]:
        return {
            n: (s["leader"], tuple(s["group"]), s["group_id"])
            for n, s in (await self.statuses()).items()
        }

    async def ready(self) -> dict[str, tuple[bool, list[str]]]:
        answers = await self.hub.run(self._get({n: "/readyz" for n in NODES}))
        return {n: (a.status_code == 200, a.json()["reasons"]) for n, a in answers.items()}

    async def figures(self) -> dict[str, dict[str, float]]:
        assert self.observer is not None
        return await self.hub.run(self.observer.figures())

    async def write(self, device: str, point: str, value: float) -> None:
        assert self.observer is not None
        await self.hub.run(self.observer.write(device, point, value))

    async def open_observer(self) -> None:
        async def make() -> Observer:
            return Observer(self.site)

        self.observer = await self.hub.run(make())

    async def close(self) -> None:
        if self.observer is not None:
            await self.hub.run(self.observer.close())

    def dgi_in_hub(self, *args: str, timeout: float = 60) -> str:
        result = self.network.run("hub", PYTHON, "-m", "controller", *args, timeout=timeout)
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def alive(self) -> None:
        for process, name in zip(self.network.started, ("simulate", *NODES), strict=True):
            assert process.poll() is None, f"{name} died: {self.log(name)}"


def one_group(views: dict[str, View], nodes: tuple[str, ...], leader: str) -> bool:
    """``nodes`` all report the same group (and group id): exactly themselves, led by ``leader``."""
    seen = {views[n] for n in nodes}
    return len(seen) == 1 and seen.pop()[:2] == (leader, nodes)


async def balanced(site: Site3, nodes: tuple[str, ...]) -> dict[str, dict[str, float]] | None:
    figures = await site.figures()
    ok = all(
        abs(figures[n]["gateway"] - figures[n]["net_generation"]) <= BALANCED_KW for n in nodes
    )
    return figures if ok else None


async def quiet(site: Site3, still_s: float = 2.5, limit_s: float = 30) -> dict[str, float]:
    """The setpoints once none has moved for ``still_s`` (two cycles): no migration half-done."""
    deadline = time.monotonic() + limit_s
    last = {n: f["pstar"] for n, f in (await site.figures()).items()}
    since = time.monotonic()
    while time.monotonic() - since < still_s:
        assert time.monotonic() < deadline, f"setpoints still moving after {limit_s} s: {last}"
        await asyncio.sleep(0.1)
        now = {n: f["pstar"] for n, f in (await site.figures()).items()}
        if now != last:
            last, since = now, time.monotonic()
    return last


async def test_cut_two_from_one_then_heal(tmp_path: Path, network: Network) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    path, config = site_in(network, tmp_path)
    site = Site3(network, path, config, logs)
    endpoints = tmp_path / "endpoints.json"
    simulator = network.spawn("hub", logs / "simulate.log", PYTHON, "-m", "controller",
                              "simulate", "--config", str(path), "--endpoints", str(endpoints))  # fmt: skip
    deadline = time.monotonic() + 20
    while not endpoints.exists():
        assert simulator.poll() is None, site.log("simulate")
        assert time.monotonic() < deadline, "the simulator did not start"
        await asyncio.sleep(0.05)
    baseline = tmp_path / "baseline.json"
    site.dgi_in_hub("audit", "--config", str(path), "--save-baseline", str(baseline))
    for node in NODES:
        network.spawn(node, logs / f"{node}.log", PYTHON, "-m", "controller", "run",
                      "--config", str(path), "--node", node, "--hold-on-exit")  # fmt: skip
    await site.open_observer()
    try:
        await until(lambda: _all_ready(site), 30, "three ready nodes")
        await until(lambda: _one(site, NODES, "sst1"), 4 * WITHIN_S, "one group of three")
        await until(lambda: balanced(site, NODES), 30, "the three balanced")
        before = await quiet(site)

        # the cut: between the nodes only, the devices stay in reach
        network.cut("sst1", "sst3")
        network.cut("sst2", "sst3")
        started = time.monotonic()
        await until(lambda: _split(site), 4 * WITHIN_S, "{sst1, sst2} and {sst3}")
        split_s = time.monotonic() - started
        rounds = {n: s["counters"]["rounds"] for n, s in (await site.statuses()).items()}
        ready, reasons = (await site.ready())["sst3"]
        assert not ready
        assert any(r.startswith("alone") for r in reasons), reasons

        # the island's loads step: 5 kW more drain at sst1, 5 kW less at sst2
        await site.write("sst1-load", "drain", 25.0)
        await site.write("sst2-load", "drain", 20.0)
        figures = await until(lambda: balanced(site, ISLAND), 30, "the island balanced")
        assert [figures[n]["net_generation"] for n in NODES] == [-15.0, -5.0, -10.0]
        during = await quiet(site)
        assert during["sst3"] == before["sst3"]  # nothing crossed the cut
        assert during["sst1"] + during["sst2"] == pytest.approx(
            before["sst1"] + before["sst2"], abs=1e-9
        )
        assert await _split(site), await site.views()  # all along
        after = {n: s["counters"]["rounds"] for n, s in (await site.statuses()).items()}
        assert all(after[n] >= rounds[n] + 9 for n in NODES), (rounds, after)  # a cycle or more

        # the heal
        network.heal("sst1", "sst3")
        network.heal("sst2", "sst3")
        started = time.monotonic()
        await until(lambda: _one(site, NODES, "sst1"), 4 * WITHIN_S, "one group again")
        healed_s = time.monotonic() - started
        await until(lambda: _all_ready(site), 10, "three ready nodes again")
        print(f"split after {split_s:.2f} s, one group {healed_s:.2f} s after the heal")
        assert split_s <= WITHIN_S, split_s
        assert healed_s <= WITHIN_S, healed_s

        # the devices say: every migration applied on both sides or neither
        site.dgi_in_hub("audit", "--config", str(path), "--baseline", str(baseline),
                        "--wait", "30", timeout=90)  # fmt: skip
        site.alive()
    finally:
        await site.close()


async def _all_ready(site: Site3) -> bool:
    return all(ready for ready, _ in (await site.ready()).values())


async def _one(site: Site3, nodes: tuple[str, ...], leader: str) -> bool:
    return one_group(await site.views(), nodes, leader)


async def _split(site: Site3) -> bool:
    views = await site.views()
    return (
        one_group(views, ISLAND, "sst1")
        and one_group(views, ("sst3",), "sst3")
        and views["sst1"][2] != views["sst3"][2]
    )
