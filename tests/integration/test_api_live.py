"""The status API of a running node, through a real HTTP client: the node runs here with its
simulator; its API runs in its own process, as with ``dgi run``."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from controller.command_name import dgi_command
from controller.core.messages import Limits
from controller.lb.messages import StateChange
from controller.peer.wire import Wire
from tests.conftest import require_tool
from tests.integration.conftest import TOKEN, Running, live_node


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


async def readyz_says(client: httpx.AsyncClient, text: str, within_s: float = 15) -> list[str]:
    deadline = time.monotonic() + within_s
    while True:
        reasons: list[str] = (await client.get("/readyz")).json()["reasons"]
        if any(text in r for r in reasons):
            return reasons
        assert time.monotonic() < deadline, reasons
        await asyncio.sleep(0.2)


async def test_a_node_whose_peers_are_silent_is_not_ready(running: Running) -> None:
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await readyz_says(client, "no datagram accepted from any peer ever")  # sst2, sst3 are down


async def test_sustained_overruns_make_the_node_not_ready(solo: Running) -> None:
    async with httpx.AsyncClient(base_url=solo.base, timeout=5) as client:
        await until_rounds(client, 2)
        assert (await client.get("/readyz")).status_code == 200
        solo.sim.faults("sst1-load").update({"latency_ms": 250})  # rounds take 2.5 rounds
        reasons = await readyz_says(client, "LB rounds overran in the last 12.4 s")
        assert not any("stale" in r for r in reasons)  # slow, but it answers
        solo.sim.faults("sst1-load").clear()


async def test_a_device_that_will_not_hold_the_command_makes_the_node_not_ready(
    solo: Running,
) -> None:
    async with httpx.AsyncClient(base_url=solo.base, timeout=5) as client:
        await until_rounds(client, 2)
        solo.sim.faults("sst1-gateway").update({"values": {"pstar": 5.0}})  # it lies about PStar
        await readyz_says(client, "the actuator holds 5 but the node commanded 0")
        status = (await client.get("/api/v1/status")).json()
        assert status["disagreement"]["held"] == 5.0
        assert status["counters"]["command_disagreements"] == 1
        text = (await client.get("/metrics")).text
        assert "dgi_command_disagreement 1.0" in text
        assert "dgi_pstar_kw 5.0" in text
        assert "dgi_pstar_commanded_kw 0.0" in text
        solo.sim.faults("sst1-gateway").update({"values": {"pstar": None}})
        deadline = time.monotonic() + 10
        while (await client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)


async def test_expired_datagrams_point_at_clock_skew(running: Running) -> None:
    """A peer whose clock is 120 s ahead: everything it sends arrives expired."""
    skewed = Wire(
        "sst2", ["sst1", "sst2", "sst3"], running.keys, epoch=int(time.time() * 1000),
        limits=Limits(1000.0), group="three-substations",
    )  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _ in range(10):
            data = skewed.seal("sst1", StateChange("demand"), time.time() + 120)
            sock.sendto(data, ("127.0.0.1", running.peer_port))
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await readyz_says(client, "10 of 10 peer datagrams in the last 30 s arrived expired")


async def test_a_token_created_while_the_node_runs_works_at_once(
    running: Running, tmp_path: Path
) -> None:
    token = tmp_path / "api.token"
    token.unlink()
    async with httpx.AsyncClient(base_url=running.base, timeout=5) as client:
        await until_rounds(client, 1)
        refused = await client.put(
            "/api/v1/control", json={"enabled": True}, headers={"Authorization": "Bearer x" * 3}
        )
        assert refused.status_code == 403
        assert refused.json()["error"] == (
            f"writes are disabled: token file {token} not found "
            f"(create one with: {dgi_command()} api-token {token})"
        )
        fresh = "a-new-token-made-while-running-0123"
        token.write_text(fresh + "\n")
        os.chmod(token, 0o600)
        answer = await client.put(
            "/api/v1/control", json={"enabled": True}, headers={"Authorization": f"Bearer {fresh}"}
        )
        assert answer.status_code == 200, answer.text


async def test_a_node_whose_group_never_forms_is_alone_and_not_ready(tmp_path: Path) -> None:
    """With group management, sst1 of a three-node site whose peers do not run stays a group
    of one: its status says so and /readyz names it."""
    async with (
        live_node(tmp_path, "three-substations.toml") as node,
        httpx.AsyncClient(base_url=node.base, timeout=5) as client,
    ):
        await until_rounds(client, 3)
        status = (await client.get("/api/v1/status")).json()
        assert status["group"] == ["sst1"]
        assert status["leader"] == "sst1"
        assert status["gm"]["status"] == "normal"
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert "alone: in no group with the site's other 2 node(s)" in ready.json()["reasons"]
        peers = (await client.get("/api/v1/peers")).json()
        assert [(p["id"], p["in_group"]) for p in peers] == [("sst2", False), ("sst3", False)]
