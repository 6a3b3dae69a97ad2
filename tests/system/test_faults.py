"""Faults a lab rehearses before touching hardware, on a site of separate processes: a
device that flaps, devices that lie, a forged boot epoch, a twin under a node's id.
Each time the node goes safe or refuses, says why, and comes back by itself."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import time
from pathlib import Path

import pytest

from config.loader import load_site
from controller.core.messages import Limits
from controller.lb.messages import StateChange
from controller.peer.keys import load_keyring
from controller.peer.wire import Wire
from tests.conftest import free_port
from tests.system.lab import Lab, Observer, until

NODES = ("sst1", "sst2", "sst3")


def quick_release(text: str) -> str:
    """Release after 1 s of failing; trust again after 1 s of answers."""
    return text.replace(
        "tolerance = 0.05", "tolerance = 0.05\nfailsafe_hold_s = 1.0\nrecovery_s = 1.0"
    )


@pytest.fixture
async def running(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> Lab:
    lab = Lab.create(tmp_path, processes, edit=quick_release)
    lab.start_simulator()
    assert lab.audit("--save-baseline", str(tmp_path / "baseline.json")).returncode == 0
    for node in NODES:
        lab.start_node(node)
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 30, "three ready nodes")
    return lab


def consistent(lab: Lab) -> dict[str, object]:
    result = lab.audit("--baseline", str(lab.directory / "baseline.json"), "--wait", "30", "--json")
    verdict: dict[str, object] = json.loads(result.stdout)
    assert result.returncode == 0, json.dumps(verdict, indent=2)
    return verdict


async def test_a_flapping_device_goes_failsafe_and_recovers(running: Lab) -> None:
    """One read in five succeeds: that never resets the hold time, the node releases; once
    the device answers steadily the node resumes and puts its command back."""
    lab = running
    lab.fault("sst1-load", "exception=4", "rate=0.8", "seed=3")
    status = await until(
        lambda: (s := lab.api("sst1", "/api/v1/status"))["released"] and s, 15, "the release"
    )
    assert status["health"]["state"] == "released"
    observer = Observer(lab.site)
    try:
        await observer.read("sst1-gateway")
        assert observer.drivers["sst1-gateway"].values["pstar"].value == 0.0  # failsafe
        ready, reasons = lab.ready("sst1")
        assert not ready
        assert "actuators released to failsafe values" in reasons
        await asyncio.sleep(2)
        assert lab.api("sst1", "/api/v1/status")["released"]  # flapping: still released
        lab.fault("sst1-load", "--clear")
        await until(lambda: not lab.api("sst1", "/api/v1/status")["released"], 10, "the resume")
        verdict = consistent(lab)
        assert abs(verdict["setpoint_sum_change"]) <= 2**-10  # type: ignore[arg-type]
    finally:
        await observer.close()
    lab.alive()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("nan", "generation = nan: not a finite number"),
        ("inf", "generation = inf: not a finite number"),
        ("-inf", "generation = -inf: not a finite number"),
        ("1e30", "generation = 1e+30: outside 0..1000 (profile drer-generation-v1)"),
    ],
    ids=["nan", "inf", "-inf", "out-of-range"],
)
async def test_a_lying_device_is_a_fault_never_a_value(
    running: Lab, value: str, message: str
) -> None:
    lab = running
    before = lab.api("sst1", "/api/v1/status")["net_generation"]
    lab.fault("sst1-pv", f"values.generation={value}")
    reasons = await until(lambda: (r := lab.ready("sst1"))[0] is False and r[1], 10, "not ready")
    assert "devices stale: sst1-pv" in reasons
    pv = next(d for d in lab.api("sst1", "/api/v1/devices") if d["id"] == "sst1-pv")
    assert pv["stale"]
    assert pv["error"] == f"sst1-pv holding[0..1] {message}"
    status = lab.api("sst1", "/api/v1/status")
    assert status["net_generation"] == before  # the last true value, never 0 or the lie
    assert all(p["value"] == 10.0 for p in pv["points"])
    lab.fault("sst1-pv", "values.generation=none")
    await until(lambda: lab.ready("sst1")[0], 15, "ready again")
    lab.alive()


async def test_a_forged_future_epoch_is_refused_and_a_twin_is_quarantined(
    running: Lab, tmp_path: Path
) -> None:
    lab = running
    # 1. a key holder's StateChange claiming boot epoch 2**62, as sst2, to sst1
    keys = load_keyring(tmp_path / "group.key")
    forger = Wire("sst2", NODES, keys, epoch=2**62, limits=Limits(1000.0), group=lab.site.name)
    data = forger.seal("sst1", StateChange("normal"), time.time())
    host, port = lab.site.node("sst1").peer.rsplit(":", 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(data, (host, int(port)))
    peer = await until(
        lambda: (
            (p := next(x for x in lab.api("sst1", "/api/v1/peers") if x["id"] == "sst2"))[
                "dropped"
            ].get("bad_epoch")
            and p
        ),
        10,
        "the forged datagram counted",
    )
    accepted = peer["accepted"]
    await asyncio.sleep(1.5)
    peer = next(x for x in lab.api("sst1", "/api/v1/peers") if x["id"] == "sst2")
    assert peer["accepted"] > accepted  # the real sst2 goes on
    assert lab.ready("sst1")[0]

    # 2. the same node id started again, on other ports, for 15 s
    twin = tmp_path / "twin.toml"
    text = lab.path.read_text()
    sst2 = lab.site.node("sst2")
    twin.write_text(
        text.replace(sst2.api, f"127.0.0.1:{free_port()}").replace(
            sst2.peer, f"127.0.0.1:{free_port()}"
        )
    )
    load_site(twin)
    lab.start_node("sst2", path=twin, name="twin")
    reasons = await until(
        lambda: (
            any("node id sst2 is used by two processes" in r for r in lab.ready("sst1")[1])
            and lab.ready("sst1")[1]
        ),
        15,
        "sst1 reports the twin",
    )
    # (sst1 leads: it hears every member. sst3 hears sst2 only when they draft with each
    # other — no node tells every other one its state each round — so it need not notice.)
    told = await until(
        lambda: any("hears this node's id from another process" in r for r in lab.ready("sst2")[1]),
        15,
        "sst2 is told",
    )
    assert told
    await asyncio.sleep(max(0.0, 15 - 3))
    lab.stop_node("twin")
    await until(lambda: all(lab.ready(n)[0] for n in NODES), 20, "every node ready again")
    assert reasons  # what sst1 said while the twin ran
    consistent(lab)
    lab.alive()
