"""A node at run time against the simulator: failsafe release and recovery, Logger gating,
and the refusals of ``dgi run``."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from config.site import Site
from controller.node.runtime import NodeRuntime
from controller.peer.keys import Keyring
from simulators.runner import Simulation
from tests.conftest import ROOT, copy_site
from tests.helpers import example, on_any_port

KEYS = Keyring("k", {"k": bytes(32)})


def with_hold(site: Site, hold_s: float) -> Site:
    algorithm = site.algorithm.model_copy(update={"failsafe_hold_s": hold_s, "recovery_s": 0.5})
    return dataclasses.replace(
        site, document=site.document.model_copy(update={"algorithm": algorithm})
    )


async def until(condition: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {within_s} s"
        await asyncio.sleep(0.02)


@pytest.fixture
async def running() -> AsyncIterator[tuple[Simulation, NodeRuntime]]:
    site = with_hold(on_any_port(example("three-substations.toml")), 0.5)
    async with Simulation(site) as sim:
        addresses = {d.id: sim.address(d.id) for d in site.devices}
        node = NodeRuntime(site, "sst1", KEYS, addresses=addresses, api=False)
        await node.start()
        try:
            yield sim, node
        finally:
            await node.stop(release=False)


async def test_a_lost_device_releases_the_node_and_it_recovers(
    running: tuple[Simulation, NodeRuntime],
) -> None:
    sim, node = running
    await until(lambda: node.lb.rounds >= 2, 5, "two rounds")
    sim.plant.command("sst1-storage", "storage", 3.0)
    await sim.stop_server("sst1-load")  # a device every round needs
    await until(lambda: node.released, 5, "the release")
    await until(
        lambda: (
            sim.plant.commanded("sst1-gateway", "gateway") == 0.0  # failsafe of pstar
            and sim.plant.commanded("sst1-storage", "storage") == 0.0
        ),  # and of the storage setpoint
        5,
        "the failsafe values",
    )
    assert node.lb.state == "normal"
    await sim.restart_server("sst1-load")
    await until(lambda: not node.released, 5, "the recovery")
    assert not node.lb.readings.stale


async def test_the_failsafe_write_is_retried_until_the_device_takes_it(
    running: tuple[Simulation, NodeRuntime],
) -> None:
    """The SST's link is down when the node releases: the failsafe write fails, and is
    written when the link returns, although the node is still released (its load is down)."""
    sim, node = running
    await until(lambda: node.lb.rounds >= 2, 5, "two rounds")
    await sim.stop_server("sst1-gateway")
    await sim.stop_server("sst1-load")
    sim.plant.command("sst1-gateway", "gateway", -12.0)  # whatever it holds now
    await until(lambda: node.released, 5, "the release")
    assert sim.plant.commanded("sst1-gateway", "gateway") == -12.0  # could not be written
    await sim.restart_server("sst1-gateway")
    await until(lambda: sim.plant.commanded("sst1-gateway", "gateway") == 0.0, 5, "failsafe")
    assert node.released  # the load is still down
    await sim.restart_server("sst1-load")
    await until(lambda: not node.released, 5, "the resume")
    # back in control: the command (-20, what it started from) is written again
    await until(lambda: sim.plant.commanded("sst1-gateway", "gateway") == -20.0, 5, "reassert")
    await until(lambda: node.lb.disagreement is None, 5, "agreement")


async def test_a_restarted_sst_gets_the_command_again(
    running: tuple[Simulation, NodeRuntime],
) -> None:
    """Nothing is skipped as "already written": a device that forgot its setpoint (here:
    changed behind the node's back) is given the command again, and the node says so."""
    sim, node = running
    await until(lambda: node.lb.rounds >= 2, 5, "two rounds")
    sim.plant.command("sst1-gateway", "gateway", 7.0)
    await until(lambda: node.lb.disagreements == 1, 5, "the disagreement")
    await until(lambda: sim.plant.commanded("sst1-gateway", "gateway") == -20.0, 5, "reassert")
    await until(lambda: node.lb.disagreement is None, 5, "agreement")
    kinds = [e["kind"] for e in node.lb.ledger.recent()]
    assert "reassert" in kinds


async def test_logger_disable_holds_the_gateway(running: tuple[Simulation, NodeRuntime]) -> None:
    sim, node = running
    await until(lambda: node.lb.rounds >= 1, 5, "a round")
    sim.plant.command("sst1-gateway", "gateway", -12.0)  # someone moved PStar by hand
    sim.plant.override("sst1-logger", "dgiEnable", 0.0)
    rounds = node.lb.rounds
    await until(lambda: node.lb.rounds >= rounds + 2, 5, "two more rounds")
    assert node.devices.acked is not None
    assert node.devices.acked.kw == pytest.approx(
        sim.plant.read("sst1-gateway", "gateway"), abs=0.5
    )
    sent = node.core.wire.stats.sent.copy()
    await until(lambda: node.lb.rounds >= rounds + 4, 5, "two more rounds")
    # a disabled node drafts nothing; it only tells its peers where it is (its Status)
    assert set(node.core.wire.stats.sent - sent) <= {"Status"}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "controller", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


def test_run_refuses_a_missing_key_file(tmp_path: Path) -> None:
    site = copy_site("three-substations.toml", tmp_path)
    result = run_cli("run", "--config", str(site), "--node", "sst1", "--duration", "1")
    assert result.returncode == 1
    assert re.search(
        r"group\.key: key file not found \(create one with: \S*dgi keygen", result.stderr
    )


def test_run_refuses_a_key_file_others_can_read(tmp_path: Path) -> None:
    site = copy_site("three-substations.toml", tmp_path)
    assert run_cli("keygen", str(tmp_path / "group.key")).returncode == 0
    os.chmod(tmp_path / "group.key", 0o644)
    result = run_cli("run", "--config", str(site), "--node", "sst1", "--duration", "1")
    assert result.returncode == 1
    assert "group key readable by others (mode -rw-r--r--)" in result.stderr
    assert "chmod 600" in result.stderr


def test_run_refuses_an_unknown_node(tmp_path: Path) -> None:
    site = copy_site("three-substations.toml", tmp_path)
    result = run_cli("run", "--config", str(site), "--node", "sst9")
    assert result.returncode == 1
    assert "has no node 'sst9'; nodes: sst1, sst2, sst3" in result.stderr


def test_keygen_never_overwrites(tmp_path: Path) -> None:
    assert run_cli("keygen", str(tmp_path / "k")).returncode == 0
    before = (tmp_path / "k").read_text()
    again = run_cli("keygen", str(tmp_path / "k"))
    assert again.returncode == 1
    assert "exists; not overwritten" in again.stderr
    assert run_cli("keygen", "--exist-ok", str(tmp_path / "k")).returncode == 0
    assert (tmp_path / "k").read_text() == before


STORAGE_SITE = """
[site]
name = "storage-actuated"

[algorithm]
actuation = "desd"
tolerance = 0.05

[[nodes]]
id = "n1"
api = "127.0.0.1:1"
peer = "127.0.0.1:{peer1}"

[[nodes.devices]]
id = "n1-gateway"
type = "Sst"
transport = "simulated"
port = 0
profile = "sst"
sim = {{ follow = true }}

[[nodes.devices]]
id = "n1-battery"
type = "Desd"
transport = "simulated"
port = 0
profile = "desd"
sim = {{ initial_kw = 5.0 }}

[[nodes.devices]]
id = "n1-pv"
type = "Drer"
transport = "simulated"
port = 0
profile = "drer"
sim = {{ generation = 10.0 }}

[[nodes.devices]]
id = "n1-load"
type = "Load"
transport = "simulated"
port = 0
profile = "load"
sim = {{ drain = 20.0 }}

[[nodes]]
id = "n2"
api = "127.0.0.1:2"
peer = "127.0.0.1:{peer2}"

[[nodes.devices]]
id = "n2-gateway"
type = "Sst"
transport = "simulated"
port = 0
profile = "sst"
sim = {{ follow = true }}

[[nodes.devices]]
id = "n2-battery"
type = "Desd"
transport = "simulated"
port = 0
profile = "desd"
sim = {{ initial_kw = -5.0 }}

[[nodes.devices]]
id = "n2-pv"
type = "Drer"
transport = "simulated"
port = 0
profile = "drer"
sim = {{ generation = 15.0 }}

[[nodes.devices]]
id = "n2-load"
type = "Load"
transport = "simulated"
port = 0
profile = "load"
sim = {{ drain = 5.0 }}
"""


async def test_storage_actuation_balances_through_the_batteries(tmp_path: Path) -> None:
    """n1 nets -10 kW but its battery discharges 5, n2 nets +10 and charges 5: the SSTs carry
    -5 and +5. Balancing moves both batteries back to idle and the gateways to -10 and +10."""
    from config.loader import load_site
    from tests.conftest import free_port

    path = tmp_path / "site.toml"
    path.write_text(STORAGE_SITE.format(peer1=free_port(), peer2=free_port()))
    site = load_site(path)
    async with Simulation(site) as sim:
        sim.plant.advance(sim.now())
        assert sim.plant.read("n1-gateway", "gateway") == -5.0
        addresses = {d.id: sim.address(d.id) for d in site.devices}
        nodes = [NodeRuntime(site, n, KEYS, addresses=addresses, api=False) for n in ("n1", "n2")]
        for node in nodes:
            await node.start()
        try:

            def balanced() -> bool:
                sim.plant.advance(sim.now())
                return abs(sim.plant.read("n1-gateway", "gateway") + 10.0) <= 0.05 and abs(
                    sim.plant.read("n2-gateway", "gateway") - 10.0
                ) <= 0.05  # fmt: skip

            await until(balanced, 8, "balance through the batteries")
            assert sim.plant.commanded("n1-battery", "storage") == pytest.approx(0.0, abs=0.05)
            assert sim.plant.commanded("n2-battery", "storage") == pytest.approx(0.0, abs=0.05)
            assert (
                sim.plant.commanded("n1-gateway", "gateway") == 0.0
            )  # the SSTs were never commanded
        finally:
            for node in nodes:
                await node.stop(release=False)
