"""The status API of a running node, through a real HTTP client: the node runs here with its
simulator; its API runs in its own process, as with ``dgi run``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from config.loader import load_site
from controller.messages import Limits, StateChange
from controller.peer.keys import Keyring, load_keyring, write_key_file
from controller.peer.wire import Wire
from controller.runtime.node import NodeRuntime
from simulators.runner import Simulation
from tests.conftest import copy_site, require_tool

TOKEN = "api-token-for-the-tests-0123456789"


@dataclasses.dataclass
class Running:
    sim: Simulation
    node: NodeRuntime
    base: str
    keys: Keyring
    peer_port: int


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    path = copy_site("three-substations.toml", tmp_path)
    write_key_file(tmp_path / "group.key")
    token = tmp_path / "api.token"
    token.write_text(TOKEN + "\n")
    os.chmod(token, 0o600)
    site = load_site(path)
    async with Simulation(site) as sim:
        node = NodeRuntime(site, "sst1", load_keyring(tmp_path / "group.key"))
        await node.start()
        try:
            base = f"http://{site.node('sst1').api}"
            peer_port = int(site.node("sst1").peer.rsplit(":", 1)[1])
            yield Running(sim, node, base, node.core.wire.keyring, peer_port)
        finally:
            await node.stop(release=False)


async def until_rounds(client: httpx.AsyncClient, rounds: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        status = (await client.get("/api/v1/status")).json()
        if status.get("counters", {}).get("rounds", 0) >= rounds:
            return dict(status)
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)


async def test_endpoints_of_a_running_node(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        status = await until_rounds(client, 2)
        assert status["node"] == "sst1"
        assert status["leader"] == "sst1"
        assert status["gateway"] == -20.0
        assert (await client.get("/healthz")).json() == {"status": "ok", "node": "sst1"}
        assert (await client.get("/readyz")).json() == {"ready": True, "reasons": []}
        table = await client.get("/api/v1/load-table", params={"format": "text"})
        assert "(SUPPLY) sst1 (this node)" in table.text
        devices = (await client.get("/api/v1/devices")).json()
        gateway = next(d for d in devices if d["id"] == "sst1-gateway")
        assert {p["name"]: p["value"] for p in gateway["points"]} == {
            "gateway": -20.0,
            "pstar": -20.0,
        }
        assert not gateway["stale"]
        peers = (await client.get("/api/v1/peers")).json()
        assert [p["id"] for p in peers] == ["sst2", "sst3"]  # sst2 and sst3 do not run here
        page = await client.get("/")
        assert page.headers["content-type"].startswith("text/html")


async def test_events_stream_rounds(running: Running) -> None:
    events = []
    async with (
        httpx.AsyncClient(base_url=running.base, timeout=10) as client,
        client.stream("GET", "/api/v1/events") as stream,
    ):
        assert stream.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in stream.aiter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: ") and event == "round":
                events.append(json.loads(line.removeprefix("data: ")))
                if len(events) == 3:
                    break
    assert [e["node"] for e in events] == ["sst1"] * 3
    assert events[1]["round"] == events[0]["round"] + 1
    assert events[0]["group"][0]["id"] == "sst1"


async def test_readiness_follows_the_devices(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await until_rounds(client, 1)
        await running.sim.stop_server("sst1-load")
        deadline = time.monotonic() + 10
        while (answer := await client.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert answer.status_code == 503
        assert answer.json()["reasons"][0] == "devices stale: sst1-load"
        load = next(
            d for d in (await client.get("/api/v1/devices")).json() if d["id"] == "sst1-load"
        )
        assert load["stale"]
        assert load["error"].startswith("sst1-load holding[0..1] read")


async def test_peers_count_drops_by_reason(running: Running) -> None:
    sender = Wire(
        "sst2",
        ["sst1", "sst2", "sst3"],
        running.keys,
        epoch=7,
        limits=Limits(1000.0),
        group="three-substations",
    )
    fresh = sender.seal("sst1", StateChange("demand"), time.time())
    old = sender.seal("sst1", StateChange("demand"), time.time() - 60)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for data in (fresh, fresh, old):  # accepted, then a replay, then an expired one
            sock.sendto(data, ("127.0.0.1", running.peer_port))
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        deadline = time.monotonic() + 10
        while True:
            peer = next(p for p in (await client.get("/api/v1/peers")).json() if p["id"] == "sst2")
            if peer["dropped"]:
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    assert peer["accepted"] == 1
    assert peer["dropped"] == {"replay": 1, "expired": 1}
    assert peer["last_seen"] is not None


async def test_control_write_with_the_token(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await until_rounds(client, 1)
        refused = await client.put("/api/v1/control", json={"enabled": False})
        assert refused.status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        answer = await client.put("/api/v1/control", json={"enabled": False}, headers=auth)
        assert answer.json() == {"enabled": False}
        assert running.node.operator_enabled is False
        status = await until_rounds(client, running.node.lb.rounds + 2)
        assert status["enabled"] is False
        assert (
            await client.put("/api/v1/control", json={"enabled": True}, headers=auth)
        ).json() == {"enabled": True}


async def test_metrics_pass_promtool(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await until_rounds(client, 2)
        text = (await client.get("/metrics")).text
    assert "dgi_gateway_kw -20.0" in text
    assert "substation_current_load 0.0" in text
    checked = subprocess.run(
        [require_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
