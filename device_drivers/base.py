"""The device driver interface.

Public methods validate, log on edges and count; a backend fills in four private hooks
(``_read_registers``, ``_read_bits``, ``_write_registers``, ``_write_bits``) plus ``close``.
A failed operation raises a :class:`~device_drivers.errors.DriverError` and marks the device
failing (stale) until a read succeeds again; the first failure is logged at WARNING, repeats at
DEBUG, and the recovery at INFO with how long the outage lasted. A read that returns a value
that cannot be true — NaN, an infinity, no value for a state, a value outside the point's
min..max — is a failure too: the value is never stored.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

from config.profile import BIT_TABLES, Point, Profile
from device_drivers.codec import CodecError, decode, encode, exponent_of
from device_drivers.errors import (
    DeviceExceptionError,
    DeviceRangeError,
    DeviceValueError,
    DeviceVerifyError,
    DriverError,
)
from device_drivers.planning import ReadBlock, plan_reads

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
    """One point as :meth:`DeviceDriver.probe` found it: the registers (or bit) it read, the
    decoded value, or why there is none."""

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
        self.blocks: tuple[ReadBlock, ...] = tuple(plan_reads(profile.points, profile.max_gap))
        self.stats = DriverStats()
        self.values: dict[str, PointValue] = {}
        self.last_ok: float | None = None
        self.failing_since: float | None = None
        self.last_error: DriverError | None = None
        self._failures = 0

    # -- reading ----------------------------------------------------------------------------------

    async def read_all(self) -> DeviceReading:
        """Read every readable point (one request per block); raise ``DriverError`` on failure."""
        decoded: dict[str, float | None] = {}
        for block in self.blocks:
            self.stats.requests += 1
            try:
                decoded.update(await self._read_block(block))
            except DriverError as exc:
                self._failed(exc)
                raise
        try:
            decoded = self._scaled(decoded)
        except DriverError as exc:
            self._failed(exc)
            raise
        now = self.clock()
        self.values.update({name: PointValue(value, now) for name, value in decoded.items()})
        self.stats.reads += 1
        self._recovered(now)
        return DeviceReading(self.device_id, dict(self.values), now)

    async def _read_block(self, block: ReadBlock) -> dict[str, float | None]:
        if block.table in BIT_TABLES:
            bits = await self._read_bits(block.table, block.address, block.count)
            return {p.name: 1.0 if bits[p.address - block.address] else 0.0 for p in block.points}
        registers = await self._read_registers(block.table, block.address, block.count)
        values = {}
        for point in block.points:
            try:
                values[point.name] = self._plausible(point, registers[block.slice_for(point)])
            except CodecError as exc:
                raise DeviceValueError(self.device_id, f"{point.span()} {exc}") from exc
        return values

    def _scaled(self, decoded: dict[str, float | None]) -> dict[str, float | None]:
        """Apply each ``scale_factor`` point (read in this round, any block) to its points,
        then check their limits (see ``_plausible``)."""
        scaled = dict(decoded)
        for point in self.profile.points:
            if point.scale_factor is None or decoded.get(point.name) is None:
                continue
            try:
                exponent = exponent_of(point, decoded.get(point.scale_factor))
                value = (decoded[point.name] or 0.0) * 10.0**exponent
                problem = outside_limits(point, value, self.profile.name)
                if problem is not None:
                    raise CodecError(problem)
            except CodecError as exc:
                raise DeviceValueError(self.device_id, f"{point.span()} {exc}") from exc
            scaled[point.name] = value
        return scaled

    def _plausible(self, point: Point, registers: list[int]) -> float | None:
        """The decoded value, or CodecError when no device could truly report it (the limits
        of a point with a scale factor are checked once it is applied, in ``_scaled``)."""
        value = decode(point, registers)
        if value is None:
            if point.is_state:
                raise CodecError(f"{point.name} reports no value (1e8)")
            return None
        if point.scale_factor is not None:
            return value
        problem = outside_limits(point, value, self.profile.name)
        if problem is not None:
            raise CodecError(problem)
        return value

    async def probe(self) -> list[PointProbe]:
        """Read every readable point once — never writing, never storing a value — and say
        for each its raw registers and decoded value, or its error.

        A block the device refuses (a Modbus exception: an illegal address) is read again
        point by point, so the error names the point at fault; once the device is
        unreachable (refused, timed out) its remaining points are not asked for.
        """
        found: list[PointProbe] = []
        down: DriverError | None = None
        for block in self.blocks:
            if down is not None:
                found += [PointProbe(p, None, None, f"not read: {down}") for p in block.points]
                continue
            try:
                raw = await self._raw(block.table, block.address, block.count)
            except DeviceExceptionError as exc:
                if len(block.points) == 1:
                    found.append(PointProbe(block.points[0], None, None, str(exc)))
                    continue
                found += await self._probe_alone(block, exc)
                continue
            except DriverError as exc:
                down = exc
                found += [PointProbe(p, None, None, str(exc)) for p in block.points]
                continue
            found += [self._probed(p, raw[block.slice_for(p)]) for p in block.points]
        return found

    async def _probe_alone(self, block: ReadBlock, refused: DriverError) -> list[PointProbe]:
        """The points of a refused block, one by one. When each reads alone, the device
        refuses reads across the gaps between them — as the node reads, every round."""
        found = []
        for point in block.points:
            try:
                alone = await self._raw(point.table, point.address, point.count)
            except DriverError as exc:
                found.append(PointProbe(point, None, None, str(exc)))
                continue
            found.append(self._probed(point, alone))
        if all(p.error is None for p in found):
            hint = (
                f"{refused}; each point reads alone: the device refuses reads across gaps "
                f"(set max_gap = 0 in profile {self.profile.name})"
            )
            found = [PointProbe(p.point, p.raw, p.value, hint) for p in found]
        return found

    async def _raw(self, table: str, address: int, count: int) -> list[int]:
        self.stats.requests += 1
        if table in BIT_TABLES:
            return [1 if bit else 0 for bit in await self._read_bits(table, address, count)]
        return list(await self._read_registers(table, address, count))

    def _probed(self, point: Point, raw: list[int]) -> PointProbe:
        if point.table in BIT_TABLES:
            return PointProbe(point, tuple(raw), float(raw[0]), None)
        try:
            return PointProbe(point, tuple(raw), self._plausible(point, raw), None)
        except CodecError as exc:
            return PointProbe(point, tuple(raw), None, f"{self.device_id} {point.span()} {exc}")

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
            exponent = await self._exponent(point)
            registers = encode(point, value, exponent)
        except CodecError as exc:
            raise DeviceRangeError(self.device_id, str(exc)) from exc
        self.stats.requests += 1
        try:
            if point.table in BIT_TABLES:
                await self._write_bits(point.address, [bool(registers[0])])
            else:
                await self._write_registers(point.address, registers)
            self.stats.writes += 1
            if self.verify and point.readable:
                await self._verify(point, registers)
        except DriverError as exc:
            self._failed(exc)
            raise

    async def _exponent(self, point: Point) -> int:
        """The power of ten a write to ``point`` is scaled by: its scale factor, read now."""
        if point.scale_factor is None:
            return 0
        factor = self.profile.point(point.scale_factor)
        try:
            registers = await self._read_registers(factor.table, factor.address, factor.count)
        except DriverError as exc:
            self._failed(exc)
            raise
        return exponent_of(point, decode(factor, registers))

    async def _verify(self, point: Point, written: list[int]) -> None:
        self.stats.requests += 1
        if point.table in BIT_TABLES:
            bits = await self._read_bits(point.table, point.address, 1)
            back = [1 if bits[0] else 0]
        else:
            back = await self._read_registers(point.table, point.address, point.count)
        if list(back) != written:
            raise DeviceVerifyError(
                self.device_id, f"{point.span()} read back {list(back)} after writing {written}"
            )

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

    # -- backend hooks ----------------------------------------------------------------------------

    @abstractmethod
    async def _read_registers(self, table: str, address: int, count: int) -> list[int]: ...

    @abstractmethod
    async def _read_bits(self, table: str, address: int, count: int) -> list[bool]: ...

    @abstractmethod
    async def _write_registers(self, address: int, registers: list[int]) -> None: ...

    @abstractmethod
    async def _write_bits(self, address: int, bits: list[bool]) -> None: ...

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
