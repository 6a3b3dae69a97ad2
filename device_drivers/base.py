"""The device driver interface, at the level of points — whatever carries them.

A driver reads and writes the points of one device's profile. This base holds what every
transport shares: the values last read and when, staleness, edge logging, plausibility and
range checks, verification after a write, and the failsafe values. A transport fills in
``_read_points`` (every readable point's value, counting its own requests) and ``_write_point`` (one
point's write), and may override ``_prepare`` (turn a value into what is sent, refusing one the
device cannot hold), ``_verify`` and ``probe``. Modbus devices sit on a register driver
(:class:`device_drivers.registers.RegisterDriver`: blocks, codec, scale factors); an OCPP
charge point and a device behind an rtds adapter sit on this base directly.

A failed operation raises a :class:`~device_drivers.errors.DriverError` and marks the device
failing (stale) until a read succeeds again; the first failure is logged at WARNING, repeats at
DEBUG, and the recovery at INFO with how long the outage lasted. A read that returns a value
that cannot be true — NaN, an infinity, no value for a state, a value outside the point's
min..max — is a failure too: the value is never stored. A write refused before anything is
sent (outside min..max, not representable) is not a device failure.
"""

from __future__ import annotations

import logging
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from config.profile import Point, Profile
from device_drivers.errors import DeviceRangeError, DeviceValueError, DeviceVerifyError, DriverError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PointValue:
    """A value read from a device (``None`` = the device reported "no value")."""

    value: float | None
    timestamp: float


@dataclass(frozen=True)
class DeviceReading:
    """The result of one :meth:`DeviceDriver.read_all`: every readable point, by point name."""

    device_id: str
    values: Mapping[str, PointValue]
    timestamp: float


@dataclass(frozen=True)
class PointProbe:
    """One point as :meth:`DeviceDriver.probe` found it: the registers (or bit) it read (None:
    the transport has no registers, or nothing was read), the value, or why there is none."""

    point: Point
    raw: tuple[int, ...] | None
    value: float | None
    error: str | None


@dataclass
class DriverStats:
    """Counters a driver keeps; the metrics layer exports them."""

    requests: int = 0
    errors: int = 0
    reads: int = 0
    writes: int = 0


def outside_limits(point: Point, value: float, profile: str) -> str | None:
    """Why a value read for ``point`` cannot be true: outside its min..max (None: it can)."""
    low, high = point.min, point.max
    if not ((low is not None and value < low) or (high is not None and value > high)):
        return None
    limits = f"{'' if low is None else f'{low:g}'}..{'' if high is None else f'{high:g}'}"
    return f"{point.name} = {value:g}: outside {limits} (profile {profile})"


class DeviceDriver(ABC):
    """One device behind one profile. Use as an async context manager; ``close`` is idempotent."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        *,
        verify: bool = False,
        stale_after_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device_id = device_id
        self.profile = profile
        self.verify = verify
        self.stale_after_s = stale_after_s
        self.clock = clock
        self.stats = DriverStats()
        self.values: dict[str, PointValue] = {}
        self.last_ok: float | None = None
        self.failing_since: float | None = None
        self.last_error: DriverError | None = None
        self._failures = 0

    # -- reading ----------------------------------------------------------------------------------

    async def read_all(self) -> DeviceReading:
        """Read every readable point; raise ``DriverError`` on failure (nothing is stored)."""
        try:
            decoded = await self._read_points()
            for name, value in decoded.items():
                self._refuse_implausible(self.profile.point(name), value)
        except DriverError as exc:
            self._failed(exc)
            raise
        now = self.clock()
        self.values.update({name: PointValue(value, now) for name, value in decoded.items()})
        self.stats.reads += 1
        self._recovered(now)
        return DeviceReading(self.device_id, dict(self.values), now)

    def implausible(self, point: Point, value: float | None) -> str | None:
        """Why ``value`` read for ``point`` cannot be true (None: it can): no value for a
        state, not a finite number, outside the point's min..max."""
        if value is None:
            return f"{point.name} reports no value (1e8)" if point.is_state else None
        if not math.isfinite(value):
            return f"{point.name} = {value}: not a finite number"
        return outside_limits(point, value, self.profile.name)

    def _refuse_implausible(self, point: Point, value: float | None) -> None:
        problem = self.implausible(point, value)
        if problem is not None:
            raise DeviceValueError(self.device_id, f"{point.span()} {problem}")

    async def probe(self) -> list[PointProbe]:
        """Read every readable point once — never storing a value — and say for each its
        value, or its error."""
        readable = [p for p in self.profile.points if p.readable]
        try:
            values = await self._read_points()
        except DriverError as exc:
            return [PointProbe(p, None, None, str(exc)) for p in readable]
        found = []
        for point in readable:
            value = values.get(point.name)
            problem = self.implausible(point, value)
            if problem is None:
                found.append(PointProbe(point, None, value, None))
            else:
                found.append(PointProbe(point, None, None, f"{self.device_id} {problem}"))
        return found

    def state(self, signal: str) -> float | None:
        """Last value read for the state ``signal`` (``None`` if never read or no value)."""
        point = self.profile.state_point(signal)
        if point is None:
            return None
        reading = self.values.get(point.name)
        return reading.value if reading else None

    def is_stale(self, now: float | None = None) -> bool:
        """True when the device never answered, is failing, or its values are too old."""
        if self.last_ok is None or self.failing_since is not None:
            return True
        return (self.clock() if now is None else now) - self.last_ok > self.stale_after_s

    # -- writing ----------------------------------------------------------------------------------

    async def command(self, signal: str, value: float) -> None:
        """Write the command ``signal`` (e.g. ``gateway``) through its command point."""
        point = self.profile.command_point(signal)
        if point is None:
            raise DriverError(
                self.device_id, f"has no command {signal!r} (profile {self.profile.name})"
            )
        await self.write(point.name, value)

    async def write(self, point_name: str, value: float) -> None:
        """Write one writable point after checking its range; verify it if configured."""
        point = self._writable(point_name)
        self._in_range(point, value)
        try:
            prepared = await self._prepare(point, value)
            self.stats.requests += 1
            await self._write_point(point, prepared)
            self.stats.writes += 1
            if self.verify and point.readable:
                self.stats.requests += 1
                await self._verify(point, prepared)
        except DeviceRangeError:
            raise  # refused before anything was sent: not the device's failure
        except DriverError as exc:
            self._failed(exc)
            raise

    def failsafe_points(self) -> list[Point]:
        """The points a release writes: every writable point with a failsafe value."""
        return [p for p in self.profile.points if p.writable and p.failsafe is not None]

    async def write_failsafe(self, point: Point) -> None:
        """Write ``point``'s failsafe value (one of :meth:`failsafe_points`)."""
        if point.failsafe is None:
            raise DriverError(self.device_id, f"{point.name} has no failsafe value")
        await self.write(point.name, point.failsafe)

    def _in_range(self, point: Point, value: float) -> None:
        """A value outside the point's min..max is refused before anything is sent."""
        if (point.min is not None and value < point.min) or (
            point.max is not None and value > point.max
        ):
            raise DeviceRangeError(
                self.device_id, f"{point.name} = {value}: outside {point.min}..{point.max}"
            )

    def _writable(self, point_name: str) -> Point:
        try:
            point = self.profile.point(point_name)
        except KeyError:
            raise DriverError(self.device_id, f"has no point {point_name!r}") from None
        if not point.writable:
            raise DriverError(self.device_id, f"{point.name} ({point.span()}) is read-only")
        return point

    # -- edges ------------------------------------------------------------------------------------

    def _failed(self, exc: DriverError) -> None:
        self.stats.errors += 1
        self.last_error = exc
        self._failures += 1
        if self.failing_since is None:
            self.failing_since = self.clock()
            log.warning("%s (device stale until it answers again)", exc)
        else:
            log.debug("%s (still failing)", exc)

    def _recovered(self, now: float) -> None:
        if self.failing_since is not None:
            log.info(
                "%s recovered after %.1f s (%d failed operations)",
                self.device_id,
                now - self.failing_since,
                self._failures,
            )
        self.failing_since = None
        self.last_error = None
        self._failures = 0
        self.last_ok = now

    # -- transport hooks --------------------------------------------------------------------------

    @abstractmethod
    async def _read_points(self) -> dict[str, float | None]:
        """Every readable point's value by point name (None: "no value"), counting the requests
        it makes; a ``DriverError`` when the device cannot be read."""

    async def _prepare(self, point: Point, value: float) -> object:
        """What :meth:`_write_point` sends for ``value``; a ``DeviceRangeError`` when the device
        cannot hold it (nothing is then sent)."""
        return value

    @abstractmethod
    async def _write_point(self, point: Point, prepared: object) -> None:
        """Write one point (``prepared`` by :meth:`_prepare`)."""

    async def _verify(self, point: Point, prepared: object) -> None:
        """Read ``point`` back and compare it with what was written."""
        back = (await self._read_points()).get(point.name)
        if back != prepared:
            raise DeviceVerifyError(
                self.device_id, f"{point.span()} read back {back} after writing {prepared}"
            )

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; safe to call twice."""

    async def __aenter__(self) -> DeviceDriver:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
