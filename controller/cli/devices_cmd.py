"""``dgi devices``: the simulated site and a live table of device values read back."""

from __future__ import annotations

import asyncio
import time

from rich.console import Console, Group

from config.site import Site
from controller.cli.device_table import device_table, plant_table
from controller.cli.lifecycle import show_until_stop, start_simulation
from device_drivers.base import DeviceDriver
from device_drivers.errors import DriverError
from device_drivers.modbus import LinkPool
from device_drivers.ocpp import CentralSystems
from device_drivers.registry import Connections, build_driver
from simulators.runner import Simulation


async def read_all(drivers: list[DeviceDriver]) -> None:
    """Read every device concurrently; failures are already logged and counted by the drivers."""
    results = await asyncio.gather(*(d.read_all() for d in drivers), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, DriverError):
            raise result


async def run_device_table(
    site: Site, duration: float | None, interval: float, console: Console
) -> int:
    sim = await start_simulation(site, console)
    if sim is None:
        return 1
    pool = LinkPool()
    central = CentralSystems()  # the simulated charge points connect here, as to their nodes
    drivers = [
        build_driver(d, Connections(pool, central), address=_address(sim, d.id))
        for d in site.devices
    ]
    node_of = {d.id: d.node_id for d in site.devices}

    def render() -> Group:
        return Group(device_table(drivers, node_of, time.time()), plant_table(sim.plant))

    try:
        await central.start()
        await central.heard(within_s=2.0)  # the charge points connect (they retry meanwhile)
        await show_until_stop(
            render, console, duration, every_s=interval, work=lambda: read_all(drivers)
        )
    finally:
        for driver in drivers:
            await driver.close()
        await central.close()
        pool.close()
        await sim.stop()
    return 0


def _address(sim: Simulation, device_id: str) -> tuple[str, int] | None:
    try:
        return sim.address(device_id)
    except KeyError:
        return None
