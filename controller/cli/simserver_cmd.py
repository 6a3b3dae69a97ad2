"""``dgi simserver``: FREEDM's PSCAD simulation server, drop-in (see docs/simserver.md)."""

from __future__ import annotations

from rich.console import Console

from controller.cli.lifecycle import wait_for_stop
from hil.config import SimServerConfig
from hil.server import SimServer


def describe(config: SimServerConfig, server: SimServer | None = None) -> list[str]:
    """One line per adapter (name, type, where it listens, its table sizes), per Modbus
    exposure (device, profile, where, unit), and the plant's (devices, tick)."""
    lines = [
        f"  {a.name:<12} {a.type:<10} {a.host}:{a.port}  "
        f"{len(a.states)} state(s), {len(a.commands)} command(s)"
        for a in config.adapters
    ]
    for m in config.modbus:
        host, port = m.host, m.port
        if server is not None:
            host, port = server.modbus_address(m.device)
        lines.append(f"  {m.device:<12} {'modbus':<10} {host}:{port}  unit {m.unit}, "
                     f"profile {m.profile.name}")  # fmt: skip
    if config.plant is not None:
        lines.append(
            f"  plant: {len(config.plant.devices)} device(s), a step every "
            f"{config.plant.tick_s:g} s"
        )
    return lines


async def run_simserver(config: SimServerConfig, duration: float | None, console: Console) -> int:
    server = SimServer(config)
    try:
        await server.start()
    except OSError as exc:
        console.print(f"error: cannot listen: {exc}", highlight=False, markup=False, soft_wrap=True)
        return 1
    try:
        console.print(
            f"{config.file}: {len(config.adapters)} adapter(s), "
            f"{len(server.cells.states)} state cell(s), {len(server.cells.commands)} command "
            "cell(s)",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        for line in describe(config, server):
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        await wait_for_stop(duration)
    finally:
        await server.stop()
    return 0
