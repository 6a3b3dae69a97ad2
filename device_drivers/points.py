"""A driver for a device without registers (an OCPP charge point, a device behind an rtds
adapter): it says its points' values (``_readings``) and writes them (``write``); reading,
probing, staleness and edge logging are the base driver's, the register hooks never used."""

from __future__ import annotations

from abc import abstractmethod
from typing import ClassVar

from device_drivers.base import DeviceDriver, DeviceReading, PointProbe, PointValue
from device_drivers.errors import DriverError


class PointDriver(DeviceDriver):
    #: What the device is, for the register hooks' refusal ("an OCPP charge point").
    kind: ClassVar[str] = "this device"

    @abstractmethod
    def _readings(self) -> dict[str, float]:
        """Every readable point's value by point name, or a ``DriverError`` saying why not."""

    async def read_all(self) -> DeviceReading:
        self.stats.requests += 1
        try:
            values = self._readings()
        except DriverError as exc:
            self._failed(exc)
            raise
        now = self.clock()
        self.values.update({name: PointValue(value, now) for name, value in values.items()})
        self.stats.reads += 1
        self._recovered(now)
        return DeviceReading(self.device_id, dict(self.values), now)

    async def probe(self) -> list[PointProbe]:
        """Each readable point's value, or the reason there is none (no registers: raw None)."""
        readable = [p for p in self.profile.points if p.readable]
        try:
            values = self._readings()
        except DriverError as exc:
            return [PointProbe(p, None, None, str(exc)) for p in readable]
        return [PointProbe(p, None, values.get(p.name), None) for p in readable]

    # -- the register hooks, never used -----------------------------------------------------------

    def _no_registers(self) -> DriverError:
        return DriverError(self.device_id, f"{self.kind} has no registers")

    async def _read_registers(self, table: str, address: int, count: int) -> list[int]:
        raise self._no_registers()

    async def _read_bits(self, table: str, address: int, count: int) -> list[bool]:
        raise self._no_registers()

    async def _write_registers(self, address: int, registers: list[int]) -> None:
        raise self._no_registers()

    async def _write_bits(self, address: int, bits: list[bool]) -> None:
        raise self._no_registers()
