"""The live device table of ``dgi demo``: every device's values read back through its driver."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from device_drivers.base import DeviceDriver
from simulators.plant import Plant


def _format(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} {unit}".rstrip()


def device_table(drivers: Sequence[DeviceDriver], node_of: dict[str, str], now: float) -> Table:
    """One row per device: node, id, type, each point's value, and whether it is fresh."""
    table = Table(title="Devices (read back through the drivers)", expand=False)
    for column in ("node", "device", "type", "values", "status"):
        table.add_column(column)
    for driver in drivers:
        values = "  ".join(
            f"{p.name}={_format(driver.values[p.name].value, p.unit)}"
            for p in driver.profile.points
            if p.name in driver.values
        )
        if driver.is_stale(now):
            reason = str(driver.last_error) if driver.last_error else "no answer yet"
            status = f"[red]stale[/red] {reason}"
        else:
            status = "[green]fresh[/green]"
        table.add_row(
            node_of[driver.device_id], driver.device_id, driver.profile.device_type, values, status
        )
    return table


def plant_table(plant: Plant) -> Table:
    """Per substation: gateway, net generation, grid import; and the bus."""
    table = Table(title=f"Plant (bus frequency {plant.frequency():.3f} rad/s)")
    for column in ("substation", "gateway kW", "net generation kW", "grid import kW"):
        table.add_column(column, justify="right")
    for node, view in sorted(plant.substations().items()):
        table.add_row(
            node, f"{view.gateway:.3f}", f"{view.net_generation:.3f}", f"{view.grid_import:.3f}"
        )
    table.add_row("bus slack", f"{-plant.total_gateway():.3f}", "", "")
    return table
