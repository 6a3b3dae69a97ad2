"""A node's devices at run time: concurrent reads, the actuator, and the failsafe.

Reads of all devices of a round run concurrently (one driver per device, one request per
device with the shipped profiles). The actuator writes PStar — to the first Sst's gateway, or
under storage actuation to the first Desd as ``PStar - generation + drain`` — and always
writes the newest value: requests that arrive while a write is in flight are coalesced.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from config.site import Device
from controller.readings import DeviceView, Readings, readings_from, storage_command
from device_drivers.base import DeviceDriver
from device_drivers.errors import DriverError
from device_drivers.modbus import LinkPool
from device_drivers.registry import Address, build_driver

log = logging.getLogger(__name__)


def view_of(driver: DeviceDriver, now: float) -> DeviceView:
    """What a round needs from one driver: states, read-back commands, command limits."""
    profile = driver.profile
    states = {
        p.signal: driver.values[p.name].value
        for p in profile.points
        if p.is_state and p.name in driver.values
    }
    commanded = {
        p.signal: driver.values[p.name].value
        for p in profile.points
        if p.is_command and p.readable and p.name in driver.values
    }
    limits = {
        p.signal: (
            p.min if p.min is not None else -float("inf"),
            p.max if p.max is not None else float("inf"),
        )
        for p in profile.points
        if p.is_command
    }
    return DeviceView(
        driver.device_id, profile.device_type, states, commanded, limits, not driver.is_stale(now)
    )


class DeviceSet:
    """The drivers of one node, and the one actuator the load balancer commands."""

    def __init__(
        self,
        devices: Sequence[Device],
        pool: LinkPool,
        *,
        actuation: str = "sst",
        addresses: Mapping[str, Address] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.actuation = actuation
        self.clock = clock
        self.types = {d.id: d.type for d in devices}
        self.drivers = {
            d.id: build_driver(d, pool, address=(addresses or {}).get(d.id)) for d in devices
        }
        self.readings = Readings()
        self.wanted: float | None = None
        self.written: float | None = None
        self.last_write_at: float | None = None
        self.write_errors = 0
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self.on_written: Callable[[float, float], None] | None = None  # (value, time)

    async def read(self) -> Readings:
        """Read every device concurrently; failures leave that device stale (already logged)."""
        results = await asyncio.gather(
            *(d.read_all() for d in self.drivers.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, DriverError):
                raise result
        now = self.clock()
        views = [view_of(driver, now) for driver in self.drivers.values()]
        self.readings = readings_from(views, actuation=self.actuation)
        return self.readings

    # -- the actuator -----------------------------------------------------------------------------

    def command(self, pstar: float) -> None:
        """Ask for PStar = ``pstar``; the writer task writes the newest value asked for."""
        self.wanted = pstar
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="actuator")
        self._wake.set()

    async def _write_loop(self) -> None:
        while self.wanted is not None and self.wanted != self.written:
            value = self.wanted
            try:
                await self._write(value)
            except DriverError as exc:
                self.write_errors += 1
                log.warning("PStar %.3f not written: %s (retried next round)", value, exc)
                return
            self.written = value
            self.last_write_at = self.clock()
            if self.on_written is not None:
                self.on_written(value, self.last_write_at)

    async def _write(self, pstar: float) -> None:
        kind = "Desd" if self.actuation == "desd" else "Sst"
        driver = self._first(kind)
        if driver is None:
            raise DriverError("node", f"has no {kind} device to command")
        if kind == "Desd":
            await driver.command("storage", storage_command(pstar, self.readings))
        else:
            await driver.command("gateway", pstar)

    def retry(self) -> None:
        """Write again what is wanted but not written (after a failed write)."""
        if self.wanted is not None and self.wanted != self.written:
            self.command(self.wanted)

    def _first(self, device_type: str) -> DeviceDriver | None:
        ids = sorted(i for i, t in self.types.items() if t == device_type)
        return self.drivers[ids[0]] if ids else None

    # -- release ----------------------------------------------------------------------------------

    async def release(self) -> None:
        """Write every writable point's failsafe value, on every device that answers."""
        self.wanted = None
        for driver in self.drivers.values():
            try:
                await driver.write_failsafe()
            except DriverError as exc:
                log.warning("failsafe not written: %s", exc)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        for driver in self.drivers.values():
            await driver.close()
