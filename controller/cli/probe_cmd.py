"""``dgi probe``: a safe first contact with hardware — read every point once, never write.

For each selected device it prints a table of point, where it lives, the raw registers, the
decoded value, its unit and any error, then one line per device; it exits 1 when any device
failed (unreachable, refused a read, or reported a value no device could truly hold).

With ``--sunspec`` it reads no profile point: it finds each device's SunSpec marker and prints
the models the device chains (id, name, length, address) and the ``profile = "sunspec:..."``
that reads it (see docs/devices.md, SunSpec devices).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from config.site import OCPP, Device, Site
from controller.cli.points_cmd import link
from device_drivers.base import PointProbe
from device_drivers.errors import DriverError
from device_drivers.modbus import LinkPool, ModbusDriver
from device_drivers.registry import Connections, build_driver
from device_drivers.sunspec_scan import Scan, ScanError, scan


class SelectionError(ValueError):
    """``--node`` or ``--device`` names nothing in the site."""


@dataclass(frozen=True)
class Probed:
    device: Device
    points: list[PointProbe]

    @property
    def errors(self) -> list[str]:
        return [p.error for p in self.points if p.error is not None]

    def as_json(self) -> dict[str, object]:
        device = self.device
        return {
            "device": device.id,
            "node": device.node_id,
            "type": device.type,
            "where": where(device),
            "profile": device.profile.name,
            "ok": not self.errors,
            "points": [
                {
                    "name": p.point.name,
                    "where": p.point.span(),
                    "raw": None if p.raw is None else list(p.raw),
                    "value": p.value,
                    "unit": p.point.unit,
                    "error": p.error,
                }
                for p in self.points
            ],
        }


def select(site: Site, node: str | None, device: str | None) -> list[Device]:
    """The devices ``--node`` / ``--device`` choose (all by default), in site order."""
    chosen = list(site.devices)
    if node is not None:
        if node not in {n.id for n in site.nodes}:
            known = ", ".join(n.id for n in site.nodes)
            raise SelectionError(f"site {site.name} has no node {node!r}; nodes: {known}")
        chosen = [d for d in chosen if d.node_id == node]
    if device is not None:
        match = [d for d in chosen if d.id == device]
        if not match:
            known = ", ".join(d.id for d in chosen)
            where = f"node {node}" if node is not None else f"site {site.name}"
            raise SelectionError(f"{where} has no device {device!r}; devices: {known}")
        chosen = match
    return chosen


def where(device: Device) -> str:
    transport = device.entry.transport
    if transport == "fake":
        return f"fake ({link(device)})"
    if transport == OCPP:
        return f"ocpp charge point, connects to its node at {link(device)}"
    return f"{'rtu' if device.entry.serial_port else 'tcp'} {link(device)}"


async def probe_devices(devices: list[Device]) -> list[Probed]:
    """Probe every device at once (devices on one link or bus take turns on its lock)."""
    pool = LinkPool()
    drivers = [build_driver(d, Connections(pool)) for d in devices]
    try:
        found = await asyncio.gather(*(driver.probe() for driver in drivers))
    finally:
        for driver in drivers:
            await driver.close()
        pool.close()
    return [Probed(d, points) for d, points in zip(devices, found, strict=True)]


def _raw(probe: PointProbe) -> str:
    if probe.raw is None:
        return "—"
    if probe.point.count == 1 and probe.point.table in ("coil", "discrete_input"):
        return str(probe.raw[0])
    return " ".join(f"0x{word:04X}" for word in probe.raw)


def _value(probe: PointProbe) -> str:
    if probe.error is not None:
        return "—"
    return "no value" if probe.value is None else f"{probe.value:g}"


def heading(probed: Probed) -> str:
    device = probed.device
    verdict = "[green]ok[/]" if not probed.errors else "[red]FAILED[/]"
    return (
        f"[bold]{device.id}[/] · {device.type} · node {device.node_id} · {where(device)} · "
        f"profile {device.profile.name} · {verdict}"
    )


def device_table(probed: Probed) -> Table:
    table = Table()
    for column in ("point", "where", "raw", "value", "unit", "error"):
        table.add_column(column, justify="right" if column == "value" else "left")
    for probe in probed.points:
        error = probe.error or ""
        table.add_row(
            probe.point.name,
            probe.point.span(),
            _raw(probe),
            _value(probe),
            probe.point.unit or "",
            f"[red]{error}[/]" if error else "",
        )
    return table


async def run_probe(
    site: Site,
    node: str | None,
    device: str | None,
    console: Console,
    errors: Console,
    *,
    as_json: bool = False,
    sunspec: bool = False,
) -> int:
    try:
        devices = select(site, node, device)
    except SelectionError as exc:
        errors.print(f"error: {exc}", highlight=False)
        return 2
    if sunspec:
        return await run_sunspec_scan(devices, console, errors)
    probed = await probe_devices(devices)
    failed = [p for p in probed if p.errors]
    if as_json:
        console.file.write(json.dumps([p.as_json() for p in probed], indent=2) + "\n")
    else:
        for result in probed:
            console.print(heading(result), highlight=False)
            console.print(device_table(result))
        points = sum(len(p.points) for p in probed)
        console.print(
            f"{len(probed)} device(s), {points} point(s), nothing written: "
            f"{len(probed) - len(failed)} ok, {len(failed)} failed",
            highlight=False,
        )
    for result in failed:
        errors.print(f"error: {result.errors[0]}", highlight=False, soft_wrap=True)
    return 1 if failed else 0


async def scan_devices(devices: list[Device]) -> list[Scan | str]:
    """Each device's SunSpec chain, or why it has none (a device that is not Modbus, down,
    or without the marker)."""
    pool = LinkPool()
    drivers = [build_driver(d, Connections(pool)) for d in devices]

    async def one(driver: object) -> Scan | str:
        if not isinstance(driver, ModbusDriver):
            return "not a Modbus device"
        try:
            return await scan(driver.read_holding)
        except (DriverError, ScanError) as exc:
            return str(exc)

    try:
        return list(await asyncio.gather(*(one(driver) for driver in drivers)))
    finally:
        for driver in drivers:
            await driver.close()
        pool.close()


def scan_table(found: Scan) -> Table:
    table = Table()
    for column in ("model", "name", "length", "address"):
        table.add_column(column, justify="left" if column == "name" else "right")
    for model in found.models:
        table.add_row(str(model.id), model.name or "?", str(model.length), str(model.address))
    return table


async def run_sunspec_scan(devices: list[Device], console: Console, errors: Console) -> int:
    """``dgi probe --sunspec``: exit 1 when a selected device has no readable chain."""
    results = await scan_devices(devices)
    for chosen, found in zip(devices, results, strict=True):
        if isinstance(found, str):
            console.print(f"[bold]{chosen.id}[/] · {where(chosen)} · [red]{found}[/]")
            continue
        console.print(
            f"[bold]{chosen.id}[/] · {where(chosen)} · SunS at {found.base} · "
            f'profile = "{found.reference()}"',
            highlight=False,
        )
        console.print(scan_table(found))
    failed = [(d, f) for d, f in zip(devices, results, strict=True) if isinstance(f, str)]
    for chosen, problem in failed:
        errors.print(f"error: {chosen.id}: {problem}", highlight=False, soft_wrap=True)
    return 1 if failed else 0
