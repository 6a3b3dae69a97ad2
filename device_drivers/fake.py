"""An in-memory device: a register image built from the profile, with fault injection.

It is a real backend (python-can's virtual bus idea): the same codec, block planning and
error handling run as against hardware, so the driver contract tests run against it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from config.profile import Profile
from device_drivers.codec import encode
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceExceptionError,
    DeviceTimeoutError,
    describe_exception,
    span,
)
from device_drivers.registers import RegisterDriver


@dataclass
class FaultPlan:
    """What the fake does wrong next: be offline, time out, or answer a Modbus exception."""

    offline: bool = False
    timeout: bool = False
    exception_code: int | None = None


@dataclass
class RegisterImage:
    """Registers and bits per table, covering each table's span of points (gaps read as 0)."""

    cells: dict[tuple[str, int], int] = field(default_factory=dict)

    @classmethod
    def from_profile(cls, profile: Profile, values: Mapping[str, float]) -> RegisterImage:
        image = cls()
        for table in {p.table for p in profile.points}:
            points = [p for p in profile.points if p.table == table]
            first = min(p.address for p in points)
            last = max(p.last_address for p in points)
            image.cells.update({(table, a): 0 for a in range(first, last + 1)})
        for point in profile.points:
            start = values.get(point.name, point.failsafe if point.failsafe is not None else 0.0)
            for offset, word in enumerate(encode(point, start)):
                image.cells[(point.table, point.address + offset)] = word
        return image


class FakeDriver(RegisterDriver):
    """Device whose registers live in memory; ``faults`` makes it misbehave on purpose."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        *,
        values: Mapping[str, float] | None = None,
        verify: bool = False,
        stale_after_s: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        kwargs = {"clock": clock} if clock else {}
        super().__init__(device_id, profile, verify=verify, stale_after_s=stale_after_s, **kwargs)
        self.image = RegisterImage.from_profile(profile, values or {})
        self.faults = FaultPlan()
        self.closed = False

    def _check(self, where: str, operation: str) -> None:
        if self.faults.offline:
            raise DeviceConnectionError(
                self.device_id, f"{where} {operation} failed: fake device offline"
            )
        if self.faults.timeout:
            raise DeviceTimeoutError(self.device_id, f"{where} {operation} timed out (fake)")
        if self.faults.exception_code is not None:
            code = self.faults.exception_code
            raise DeviceExceptionError(
                self.device_id, f"{where} {operation} failed: {describe_exception(code)}", code
            )

    def _cells(self, table: str, address: int, count: int, operation: str) -> list[tuple[str, int]]:
        where = span(table, address, count)
        self._check(where, operation)
        keys = [(table, a) for a in range(address, address + count)]
        if any(key not in self.image.cells for key in keys):
            raise DeviceExceptionError(
                self.device_id, f"{where} {operation} failed: {describe_exception(2)}", 2
            )
        return keys

    async def _read_registers(self, table: str, address: int, count: int) -> list[int]:
        return [self.image.cells[key] for key in self._cells(table, address, count, "read")]

    async def _read_bits(self, table: str, address: int, count: int) -> list[bool]:
        return [bool(self.image.cells[key]) for key in self._cells(table, address, count, "read")]

    async def _write_registers(self, address: int, registers: list[int]) -> None:
        keys = self._cells("holding", address, len(registers), "write")
        self.image.cells.update(zip(keys, registers, strict=True))

    async def _write_bits(self, address: int, bits: list[bool]) -> None:
        keys = self._cells("coil", address, len(bits), "write")
        self.image.cells.update(zip(keys, (int(b) for b in bits), strict=True))

    async def close(self) -> None:
        self.closed = True
