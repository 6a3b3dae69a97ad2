"""A node's devices at run time: concurrent reads, the actuator, and the failsafe.

Reads of all devices of a round run concurrently (one driver per device, one request per
device with the shipped profiles). The actuator writes what the core's ``SetPStar`` says —
the setpoint of the first Sst's gateway, or under storage actuation of the first Desd's
storage — and always the newest one: commands that arrive while a write is in flight are
coalesced. Nothing is skipped as "already written": after a link loss or a restart the
device may hold anything, and only its read-back says what. Each write is reported when it
is sent and when the device acknowledges it; a failed one is written again next round.

A release writes every writable point's failsafe value and keeps trying the ones that fail
until each is acknowledged; commands that come meanwhile wait for the node to resume.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from config.profile import Point
from config.site import Device
from controller.core.effects import SetPStar
from controller.core.readings import ACTUATORS, DeviceView, Readings, readings_from
from device_drivers.base import DeviceDriver
from device_drivers.errors import DeviceRangeError, DriverError
from device_drivers.registry import Address, Connections, build_driver

log = logging.getLogger(__name__)


def resolution(point: Point) -> float:
    """The smallest change of value the point can hold (0: a float, relative precision)."""
    return 0.0 if point.type in ("float32", "float64") else abs(point.scale)


def view_of(driver: DeviceDriver, now: float, read_mark: float | None = None) -> DeviceView:
    """What a round needs from one driver: states, read-back commands, command limits;
    ``read_mark`` is when the read that gave its values was sent (a monotonic time)."""
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
        driver.device_id,
        profile.device_type,
        states,
        commanded,
        limits,
        not driver.is_stale(now),
        read_mark=read_mark,
        resolutions={p.signal: resolution(p) for p in profile.points if p.is_command},
    )


class DeviceSet:
    """The drivers of one node, and the one actuator the load balancer commands."""

    def __init__(
        self,
        devices: Sequence[Device],
        connections: Connections,
        *,
        actuation: str = "sst",
        addresses: Mapping[str, Address] | None = None,
        clock: Callable[[], float] = time.time,
        mark: Callable[[], float] = time.monotonic,
        failsafe_retry_s: float = 0.5,
    ) -> None:
        self.actuation = actuation
        self.clock = clock
        self.mark = mark
        self.failsafe_retry_s = failsafe_retry_s
        self.types = {d.id: d.type for d in devices}
        self.rtds = connections.rtds  # the devices of one adapter share its connection
        self.drivers = {
            d.id: build_driver(d, connections, address=(addresses or {}).get(d.id)) for d in devices
        }
        self.readings = Readings()
        self.wanted: SetPStar | None = None  # the newest command asked for
        self.acked: SetPStar | None = None  # the newest command the device acknowledged
        self.write_errors = 0
        self.released = False
        self.failsafe_pending: list[tuple[DeviceDriver, Point]] = []
        self._marks: dict[str, float] = {}  # device -> when its last good read was sent
        self._writer: asyncio.Task[None] | None = None
        self._failsafe: asyncio.Task[None] | None = None
        self._shower: asyncio.Task[None] | None = None
        self._write_failing = False
        self.on_sent: Callable[[int], None] | None = None  # (seq)
        self.on_acked: Callable[[int, float, float], None] | None = None  # (seq, setpoint, mark)
        self.on_failed: Callable[[int, str, bool], None] | None = None  # (seq, why, refused)

    async def read(self) -> Readings:
        """Read every device concurrently; failures leave that device stale (already logged)."""
        sent = self.mark()
        results = await asyncio.gather(
            *(d.read_all() for d in self.drivers.values()), return_exceptions=True
        )
        for device_id, result in zip(self.drivers, results, strict=True):
            if isinstance(result, BaseException):
                if not isinstance(result, DriverError):
                    raise result
            else:
                self._marks[device_id] = sent
        now = self.clock()
        views = [view_of(d, now, self._marks.get(i)) for i, d in self.drivers.items()]
        self.readings = readings_from(views, actuation=self.actuation)
        return self.readings

    # -- the actuator -----------------------------------------------------------------------------

    def command(self, command: SetPStar) -> None:
        """Ask for ``command``; the writer task writes the newest command asked for."""
        self.wanted = command
        self.retry()

    def retry(self) -> None:
        """Write what is wanted but not acknowledged (after a failed write, or a resume)."""
        if self.released or self.wanted is None:
            return
        if self.acked is not None and self.wanted.seq <= self.acked.seq:
            return
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_loop(), name="actuator")

    async def _write_loop(self) -> None:
        while not self.released and self.wanted is not None:
            command = self.wanted
            if self.acked is not None and command.seq <= self.acked.seq:
                return
            if self.on_sent is not None:
                self.on_sent(command.seq)
            try:
                await self._write(command.setpoint)
            except DriverError as exc:
                self._failed(command, exc)
                return
            if self._write_failing:
                log.info("setpoint %g written after %d failed write(s)", command.setpoint,
                         self.write_errors)  # fmt: skip
                self._write_failing = False
            self.acked = command
            if self.on_acked is not None:
                self.on_acked(command.seq, command.setpoint, self.mark())

    def _failed(self, command: SetPStar, exc: DriverError) -> None:
        """A link error is written again next round; a value the device refuses never is."""
        self.write_errors += 1
        refused = isinstance(exc, DeviceRangeError)
        if refused and self.wanted is command:
            self.wanted = None
        level = logging.DEBUG if self._write_failing else logging.WARNING
        again = "not written again" if refused else "written again next round"
        log.log(level, "setpoint %g not written: %s (%s)", command.setpoint, exc, again)
        self._write_failing = True
        if self.on_failed is not None:
            self.on_failed(command.seq, str(exc), refused)

    async def _write(self, setpoint: float) -> None:
        kind, signal = ACTUATORS[self.actuation]
        driver = self._first(kind)
        if driver is None:
            raise DriverError("node", f"has no {kind} device to command")
        await driver.command(signal, setpoint)

    def _first(self, device_type: str) -> DeviceDriver | None:
        ids = sorted(i for i, t in self.types.items() if t == device_type)
        return self.drivers[ids[0]] if ids else None

    # -- the Logger ---------------------------------------------------------------------------

    def show_group(self, bits: int) -> None:
        """Write the group bit field to the first Logger's ``groupStatus``, in the background
        (a failure is logged at debug level: the display is not worth a round)."""
        driver = self._first("Logger")
        if driver is None or self.released:
            return
        if not any(p.name == "groupStatus" and p.writable for p in driver.profile.points):
            return
        if self._shower is not None and not self._shower.done():
            return  # the last one is still being written; the next GM phase writes again
        self._shower = asyncio.create_task(self._show(driver, bits), name="group status")

    async def _show(self, driver: DeviceDriver, bits: int) -> None:
        try:
            await driver.write("groupStatus", float(bits))
        except DriverError as exc:
            log.debug("groupStatus not written: %s", exc)

    # -- release ----------------------------------------------------------------------------------

    def release(self) -> None:
        """Go safe: write every writable point's failsafe value, in the background (a round
        never waits for a dead link), trying again every ``failsafe_retry_s`` until the device
        acknowledges each, or the node resumes."""
        self.released = True
        self.failsafe_pending = [
            (driver, point)
            for driver in self.drivers.values()
            for point in driver.failsafe_points()
        ]
        self._stop_failsafe()
        self._failsafe = asyncio.create_task(self._write_failsafe(), name="failsafe")

    async def released_now(self, timeout_s: float = 5.0) -> None:
        """Release and wait, for at most ``timeout_s``, until the failsafe values are written
        (the node stops); what is still pending then stays in ``failsafe_pending``."""
        self.release()
        if self._failsafe is not None:
            await asyncio.wait({self._failsafe}, timeout=timeout_s)
        self._stop_failsafe()

    async def _write_failsafe(self) -> None:
        while self.released and self.failsafe_pending:
            pending = list(self.failsafe_pending)
            results = await asyncio.gather(
                *(driver.write_failsafe(point) for driver, point in pending),
                return_exceptions=True,
            )
            for (driver, point), result in zip(pending, results, strict=True):
                if isinstance(result, BaseException):
                    log.debug("failsafe of %s %s not written yet: %s", driver.device_id,
                              point.name, result)  # fmt: skip
                    continue
                self.failsafe_pending.remove((driver, point))
                log.info("%s %s: failsafe value %g written", driver.device_id, point.name,
                         point.failsafe)  # fmt: skip
            if self.failsafe_pending:
                await asyncio.sleep(self.failsafe_retry_s)

    def _stop_failsafe(self) -> None:
        if self._failsafe is not None and not self._failsafe.done():
            self._failsafe.cancel()
        self._failsafe = None

    def resume(self) -> None:
        """Control again: failsafe writes stop; a command that waited is written."""
        self.released = False
        self.failsafe_pending = []
        self._stop_failsafe()
        self.retry()

    async def close(self) -> None:
        for task in (self._writer, self._failsafe, self._shower):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        for driver in self.drivers.values():
            await driver.close()
