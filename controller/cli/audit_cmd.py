"""``dgi audit``: read every node's API and every actuator over Modbus; judge the site.

Devices on Modbus/TCP are read directly, beside the nodes (a Modbus/TCP server takes many
clients). A device on a serial (RTU) line is read through its node's API instead — an
RS-485 line has one master — and marked so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from config.site import OCPP, Device, Site
from controller.core.audit import Audit, Baseline, NodeFacts, judge
from controller.core.readings import ACTUATORS, DeviceView, readings_from
from controller.node.devices import resolution, view_of
from device_drivers.errors import DriverError
from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver

Json = dict[str, Any]
NEEDED = ("Sst", "Desd", "Drer", "Load", "Evse")


async def _api(client: httpx.AsyncClient, base: str, path: str) -> Json | list[Json]:
    answer = await client.get(base + path)
    answer.raise_for_status()
    body: Json | list[Json] = answer.json()
    return body


async def _node_facts(
    site: Site, node_id: str, client: httpx.AsyncClient, pool: LinkPool
) -> NodeFacts:
    base = f"http://{site.node(node_id).api}"
    problems: list[str] = []
    status: Json | None = None
    ledger: Json | None = None
    api_devices: list[Json] = []
    try:
        status = dict(await _api(client, base, "/api/v1/status"))  # type: ignore[arg-type]
        ledger = dict(await _api(client, base, "/api/v1/ledger"))["summary"]  # type: ignore[arg-type]
        devices = await _api(client, base, "/api/v1/devices")
        api_devices = list(devices) if isinstance(devices, list) else []
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        problems.append(f"its API at {base} cannot be read: {exc}")
    mine = [d for d in site.devices_of(node_id) if d.type in NEEDED]
    # a serial bus is the node's, and an OCPP charge point connects to the node: via the API
    direct = [d for d in mine if not d.entry.serial_port and d.entry.transport != OCPP]
    drivers = {d.id: build_driver(d, Connections(pool)) for d in direct}
    try:
        results = await asyncio.gather(
            *(driver.read_all() for driver in drivers.values()), return_exceptions=True
        )
        now = time.time()
        views: list[DeviceView] = []
        for (device_id, driver), result in zip(drivers.items(), results, strict=True):
            if isinstance(result, DriverError):
                problems.append(f"device {device_id} cannot be read: {result}")
            elif isinstance(result, BaseException):
                raise result
            else:
                views.append(view_of(driver, now))
        via = [d for d in mine if d not in direct]
        views += [_view_from_api(d, api_devices) for d in via]
    finally:
        for driver in drivers.values():
            await driver.close()
    readings = readings_from(views, actuation=site.algorithm.actuation)
    complete = not any(p.startswith("device ") for p in problems)
    return NodeFacts(
        node=node_id,
        held=readings.pstar if complete else None,
        held_setpoint=readings.setpoint if complete else None,
        resolution=_actuator_resolution(site, node_id),
        gateway=readings.gateway if complete else None,
        net_generation=readings.net_generation if complete else None,
        status=status,
        ledger=ledger,
        problems=problems,
        via_node=[d.id for d in via],
    )


def _actuator_resolution(site: Site, node_id: str) -> float:
    kind, signal = ACTUATORS[site.algorithm.actuation]
    actuators = sorted((d for d in site.devices_of(node_id) if d.type == kind), key=lambda d: d.id)
    point = actuators[0].profile.command_point(signal) if actuators else None
    return 0.0 if point is None else resolution(point)


def _view_from_api(device: Device, api_devices: list[Json]) -> DeviceView:
    """A serial device or an OCPP charge point as its node last read it (the API's point
    values by name)."""
    entry = next((d for d in api_devices if d.get("id") == device.id), None)
    values = {p["name"]: p["value"] for p in (entry or {}).get("points", [])}
    profile = device.profile
    states = {p.signal: values.get(p.name) for p in profile.points if p.is_state}
    commanded = {p.signal: values.get(p.name) for p in profile.points if p.is_command}
    return DeviceView(device.id, device.type, states, commanded, {}, entry is not None)


async def collect(site: Site, *, timeout_s: float = 2.0) -> list[NodeFacts]:
    pool = LinkPool()
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            return list(
                await asyncio.gather(*(_node_facts(site, n.id, client, pool) for n in site.nodes))
            )
    finally:
        pool.close()


async def audit(
    site: Site, *, baseline: Mapping[str, Baseline] | None, wait_s: float = 0.0
) -> Audit:
    """Judge the site; with ``wait_s``, again every half second until it is consistent."""
    deadline = time.monotonic() + wait_s
    agree = max(site.algorithm.setpoint_tolerance_kw, 1e-6)
    while True:
        verdict = judge(await collect(site), baseline, agree_kw=agree)
        if verdict.consistent or time.monotonic() >= deadline:
            return verdict
        await asyncio.sleep(0.5)


async def take_baseline(site: Site) -> dict[str, Any]:
    """What every actuator holds now, and each running node's adjustments and start time
    (``--save-baseline``); the devices must answer, the nodes need not run."""
    facts = await collect(site)
    missing = [f.node for f in facts if f.held is None]
    if missing:
        raise DriverError(", ".join(missing), "actuator setpoint cannot be read")
    nodes = {}
    for fact in facts:
        running = fact.status is not None and fact.ledger is not None
        nodes[fact.node] = {
            "held": fact.held,
            "adjusted": float(fact.ledger["adjusted"]) if running and fact.ledger else None,
            "started_at": fact.status.get("started_at") if running and fact.status else None,
        }
    return {"taken_at": time.time(), "nodes": nodes}


def render(site: Site, result: Audit) -> str:
    """The audit as a table and a verdict."""
    lines = [f"site {site.name}: audit at {time.strftime('%Y-%m-%dT%H:%M:%S%z')}"]
    header = f"{'node':<12} {'state':<8} {'commanded':>11} {'held':>11} {'agrees':<6} "
    lines.append(header + f"{'NG':>9} {'G':>9}")
    for n in result.nodes:
        lines.append(
            f"{n.node:<12} {(n.state or '?').upper():<8} {_kw(n.commanded):>11} {_kw(n.held):>11} "
            f"{'yes' if n.agrees else 'NO':<6} {_kw(n.net_generation, 3):>9} {_kw(n.gateway, 3):>9}"
        )
    lines.append(
        f"sum of setpoint changes held by the devices: {_kw(result.setpoint_sum_change, 6)} kW "
        f"(adjusted by the nodes {_kw(result.adjusted, 6)} kW, "
        f"migrated {_kw(result.migrated, 6)} kW)"
    )
    pairs = ", ".join(f"{s} -> {d}" for s, d in result.open_pairs) or "none"
    lines.append(f"open SUPPLY/DEMAND pairs: {pairs}")
    lines.append(f"residual (sum of NG - held PStar): {_kw(result.residual, 3)} kW")
    for n in result.nodes:
        if n.via_node:
            shown = ", ".join(n.via_node)
            lines.append(f"  {n.node}: {shown} read through the node's API (a serial line)")
    lines += [f"  note: {n}" for n in result.notes]
    lines += [f"  problem: {p}" for p in result.problems]
    lines.append("consistent" if result.consistent else "NOT consistent")
    return "\n".join(lines)


def _kw(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def read_baseline(path: Path) -> dict[str, Baseline]:
    """A baseline file written by ``--save-baseline``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    nodes = data.get("nodes") if isinstance(data, dict) else None
    if not isinstance(nodes, dict):
        raise ValueError(f"{path}: not a baseline written by dgi audit --save-baseline")
    try:
        return {
            str(node): Baseline(
                float(entry["held"]),
                _number(entry.get("adjusted")),
                _number(entry.get("started_at")),
            )
            for node, entry in nodes.items()
        }
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: a node's entry needs a numeric 'held' ({exc})") from None


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]
