"""An OCPP charger in a lab of processes: ``dgi simulate`` plays the charge point, which
connects to the central system of ``dgi run``; the node reads it through its API, its EV
sessions drive it (no session: nothing drawn; a booked session: its power, in the node's net
generation; ended: nothing again), a car that leaves and a charger that drops out
(``dgi fault``) are seen there, and a stopping node releases the charger to its failsafe
limit."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from config.loader import load_site
from tests.conftest import free_port
from tests.system.charge_client import one
from tests.system.lab import Lab, dgi, until

SITE = """\
[site]
name = "ocpp-system"

[algorithm]
failsafe_hold_s = 2.0
recovery_s = 1.0

[[nodes]]
id = "sst1"
api = "127.0.0.1:{api}"
peer = "127.0.0.1:{peer}"

[[nodes.devices]]
id = "sst1-gateway"
type = "Sst"
transport = "simulated"
host = "127.0.0.1"
port = {sst}
profile = "sst"
sim = {{ follow = true }}

[[nodes.devices]]
id = "sst1-load"
type = "Load"
transport = "simulated"
host = "127.0.0.1"
port = {load}
profile = "load"
sim = {{ drain = 3.0 }}

[[nodes.devices]]
id = "sst1-chargers"
type = "Evse"
transport = "ocpp"
host = "127.0.0.1"
port = {ocpp}
stale_after_s = 3.0
sim = {{ connected = true, connectors = 2, demand_kw = 7.0, initial_limit_kw = 50.0, meter_interval_s = 0.5 }}
"""


def charger(lab: Lab) -> dict[str, Any]:
    devices = lab.api("sst1", "/api/v1/devices")
    found: dict[str, Any] = next(d for d in devices if d["id"] == "sst1-chargers")
    return found


def reads(lab: Lab, *, power: float, connected: float) -> dict[str, Any] | None:
    """The charger as the node shows it, when fresh with these values."""
    device = charger(lab)
    values = {p["name"]: p["value"] for p in device["points"]}
    if device["stale"] or values.get("connected") != connected:
        return None
    if values.get("power") is None or abs(values["power"] - power) > 1e-3:
        return None
    return device


async def test_a_node_reads_its_ocpp_charger(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    path = tmp_path / "site.toml"
    ports = {k: free_port() for k in ("api", "peer", "sst", "load", "ocpp")}
    path.write_text(SITE.format(**ports), encoding="utf-8")
    assert dgi("keygen", str(tmp_path / "group.key")).returncode == 0
    assert dgi("api-token", str(tmp_path / "api.token")).returncode == 0
    (tmp_path / "logs").mkdir()
    lab = Lab(tmp_path, path, load_site(path), f"127.0.0.1:{free_port()}", processes)

    lab.start_simulator()
    lab.start_node("sst1", hold=False)
    # no session: the node lets the chargers draw nothing (the charger's own 50 kW limit goes)
    await until(lambda: reads(lab, power=0.0, connected=1.0), 30, "the node's limit: 0 kW")
    api = lab.site.node("sst1").api
    booked = await one(api, "POST", "/charge", {"power_kw": 10.0})
    assert booked.status == 201, booked.body
    await until(lambda: reads(lab, power=10.0, connected=1.0), 15, "the session's 10 kW drawn")
    await until(  # the EV power counts as drain: NG = -(3 + 10) kW
        lambda: abs(lab.api("sst1", "/api/v1/status")["net_generation"] + 13.0) < 0.01,
        15,
        "the node's net generation with the chargers' draw",
    )
    token = (tmp_path / "api.token").read_text().strip()
    ended = await one(
        api,
        "DELETE",
        f"/api/v1/sessions/{booked.body['session_id']}",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert ended.status == 200, ended.body
    await until(lambda: reads(lab, power=0.0, connected=1.0), 15, "the session's end: 0 kW")

    lab.fault("sst1-chargers", "--plant", "connected=0")  # the cars leave
    await until(lambda: reads(lab, power=0.0, connected=0.0), 15, "the node seeing them go")

    lab.fault("sst1-chargers", "--stop")  # the charger's link goes down
    await until(lambda: charger(lab)["stale"], 15, "the charger stale")
    assert "disconnected" in (charger(lab)["error"] or "")
    lab.fault("sst1-chargers", "--start")
    fresh = await until(lambda: reads(lab, power=0.0, connected=0.0), 15, "the charger back")
    assert fresh["errors"] >= 1

    lab.stop_node("sst1")  # releases: the failsafe limit goes to the charger as profiles
    log = lab.log("sst1")
    assert "released: failsafe values written" in log, log
    assert "OCPP central system on ws://127.0.0.1:" in log
    assert "sst1-chargers connected from" in log
    lab.alive()
