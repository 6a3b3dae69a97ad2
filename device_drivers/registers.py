"""The register driver: points laid out in Modbus tables, read in blocks, through the codec.

Under the point-level :class:`~device_drivers.base.DeviceDriver` (values, staleness, edges,
plausibility, range checks, verify, failsafe), this layer knows registers: it plans the reads
(one request per block of nearby points, :mod:`device_drivers.planning`), decodes each point's
words (type, word order, scale, offset: :mod:`device_drivers.codec`), applies SunSpec-style
scale factors read in the same round, and writes a value as the words the device holds. A
backend (Modbus/TCP and RTU in :mod:`device_drivers.modbus`, the in-memory
:mod:`device_drivers.fake`) fills in four hooks — ``_read_registers``, ``_read_bits``,
``_write_registers``, ``_write_bits`` — plus ``close``.
"""

from __future__ import annotations

from abc import abstractmethod
from functools import cached_property

from config.profile import BIT_TABLES, Point
from device_drivers.base import DeviceDriver, PointProbe
from device_drivers.codec import CodecError, decode, encode, exponent_of
from device_drivers.errors import (
    DeviceExceptionError,
    DeviceRangeError,
    DeviceValueError,
    DeviceVerifyError,
    DriverError,
)
from device_drivers.planning import ReadBlock, plan_reads


class RegisterDriver(DeviceDriver):
    """A device whose points live in registers and bits."""

    @cached_property
    def blocks(self) -> tuple[ReadBlock, ...]:
        """The read requests of one :meth:`read_all`: the profile's points, planned once."""
        return tuple(plan_reads(self.profile.points, self.profile.max_gap))

    # -- reading ----------------------------------------------------------------------------------

    async def _read_points(self) -> dict[str, float | None]:
        """One request per block, then the scale factors applied."""
        decoded: dict[str, float | None] = {}
        for block in self.blocks:
            self.stats.requests += 1
            decoded.update(await self._read_block(block))
        return self._scaled(decoded)

    async def _read_block(self, block: ReadBlock) -> dict[str, float | None]:
        if block.table in BIT_TABLES:
            bits = await self._read_bits(block.table, block.address, block.count)
            return {p.name: 1.0 if bits[p.address - block.address] else 0.0 for p in block.points}
        registers = await self._read_registers(block.table, block.address, block.count)
        return {p.name: self._decoded(p, registers[block.slice_for(p)]) for p in block.points}

    def _decoded(self, point: Point, registers: list[int]) -> float | None:
        try:
            return decode(point, registers)
        except CodecError as exc:
            raise DeviceValueError(self.device_id, f"{point.span()} {exc}") from exc

    def _scaled(self, decoded: dict[str, float | None]) -> dict[str, float | None]:
        """Apply each ``scale_factor`` point (read in this round, any block) to its points."""
        scaled = dict(decoded)
        for point in self.profile.points:
            if point.scale_factor is None or decoded.get(point.name) is None:
                continue
            try:
                exponent = exponent_of(point, decoded.get(point.scale_factor))
            except CodecError as exc:
                raise DeviceValueError(self.device_id, f"{point.span()} {exc}") from exc
            scaled[point.name] = (decoded[point.name] or 0.0) * 10.0**exponent
        return scaled

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
        """The decoded value (unscaled for a point with a scale factor: its limits are then
        not checked), or why it cannot be true."""
        if point.table in BIT_TABLES:
            return PointProbe(point, tuple(raw), float(raw[0]), None)
        try:
            value = decode(point, raw)
        except CodecError as exc:
            return PointProbe(point, tuple(raw), None, f"{self.device_id} {point.span()} {exc}")
        problem = None if point.scale_factor is not None else self.implausible(point, value)
        if problem is not None:
            return PointProbe(point, tuple(raw), None, f"{self.device_id} {point.span()} {problem}")
        return PointProbe(point, tuple(raw), value, None)

    # -- writing ----------------------------------------------------------------------------------

    async def _prepare(self, point: Point, value: float) -> list[int]:
        """The words the device holds for ``value`` (scaled by its scale factor, read now)."""
        factor = None if point.scale_factor is None else self.profile.point(point.scale_factor)
        held = None
        if factor is not None:
            held = await self._read_registers(factor.table, factor.address, factor.count)
        try:
            exponent = (
                0 if factor is None or held is None else exponent_of(point, decode(factor, held))
            )
            return encode(point, value, exponent)
        except CodecError as exc:
            raise DeviceRangeError(self.device_id, str(exc)) from exc

    async def _write_point(self, point: Point, prepared: object) -> None:
        assert isinstance(prepared, list)
        if point.table in BIT_TABLES:
            await self._write_bits(point.address, [bool(prepared[0])])
        else:
            await self._write_registers(point.address, prepared)

    async def _verify(self, point: Point, prepared: object) -> None:
        if point.table in BIT_TABLES:
            bits = await self._read_bits(point.table, point.address, 1)
            back = [1 if bits[0] else 0]
        else:
            back = list(await self._read_registers(point.table, point.address, point.count))
        if back != prepared:
            raise DeviceVerifyError(
                self.device_id, f"{point.span()} read back {back} after writing {prepared}"
            )

    # -- backend hooks ----------------------------------------------------------------------------

    @abstractmethod
    async def _read_registers(self, table: str, address: int, count: int) -> list[int]: ...

    @abstractmethod
    async def _read_bits(self, table: str, address: int, count: int) -> list[bool]: ...

    @abstractmethod
    async def _write_registers(self, address: int, registers: list[int]) -> None: ...

    @abstractmethod
    async def _write_bits(self, address: int, bits: list[bool]) -> None: ...
