"""``dgi simulate``: serve a site's simulated devices until stopped."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from config.settings import PlantKind
from config.site import Site
from controller.cli.lifecycle import start_simulation, wait_for_stop
from simulators.runner import Simulation


def endpoint_rows(sim: Simulation) -> list[dict[str, object]]:
    """Where each simulated device is served: one row per (device, server)."""
    rows: list[dict[str, object]] = []
    for server in sim.servers:
        for image in server.images:
            entry = image.device.entry
            row: dict[str, object] = {
                "device": entry.id,
                "node": image.device.node_id,
                "type": entry.type,
                "unit": entry.unit,
                "profile": image.device.profile.name,
            }
            if server.kind == "tcp":
                row.update(transport="tcp", host=server.host, port=server.port)
            else:
                row.update(transport="rtu", serial_port=server.where)
            rows.append(row)
    for charge_point in sim.charge_points.values():
        device = charge_point.device
        rows.append(
            {
                "device": device.id,
                "node": device.node_id,
                "type": device.type,
                "profile": device.profile.name,
                "transport": "ocpp",
                "url": charge_point.url,  # a client: it connects to its node's central system
                "host": device.entry.host,
                "port": device.entry.port,
            }
        )
    return rows


def _where(row: dict[str, object]) -> str:
    if row["transport"] == "ocpp":
        return f"ocpp charge point, connects to {row['url']}"
    if row["transport"] == "tcp":
        return f"tcp {row['host']}:{row['port']} unit {row['unit']}"
    return f"rtu {row['serial_port']} unit {row['unit']}"


def write_endpoints(path: Path, rows: list[dict[str, object]]) -> None:
    """Write atomically, so a process waiting for the file never reads half of it."""
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    partial.replace(path)


async def run_simulator(
    site: Site,
    endpoints: Path | None,
    duration: float | None,
    console: Console,
    control: tuple[str, int] | None = None,
    plant: PlantKind | None = None,
) -> int:
    sim = await start_simulation(site, console, control=control, plant=plant)
    if sim is None:
        return 1
    try:
        rows = endpoint_rows(sim)
        console.print(f"site {site.name}: {len(rows)} simulated device(s)", highlight=False)
        for row in rows:
            console.print(
                f"  {row['node']:<10} {row['device']:<20} {row['type']:<7} {_where(row)}",
                highlight=False,
                soft_wrap=True,
            )
        if sim.control is not None:
            console.print(
                f"fault control on {sim.control.host}:{sim.control.port} "
                f"(dgi fault --control {sim.control.host}:{sim.control.port} DEVICE KEY=VALUE)",
                highlight=False,
                soft_wrap=True,
            )
        grid = sim.plant.grid
        if grid is not None:
            settings = site.grid
            console.print(
                f"pandapower plant: network {settings.network}, kw_scale {settings.kw_scale:g}, "
                f"load_scale {settings.load_scale:g}, a power flow every {settings.tick_s:g} s",
                highlight=False,
                soft_wrap=True,
            )
        if endpoints is not None:
            write_endpoints(endpoints, rows)
        console.print("serving; Ctrl-C to stop", style="bold")
        await wait_for_stop(duration)
    finally:
        await sim.stop()
    return 0
