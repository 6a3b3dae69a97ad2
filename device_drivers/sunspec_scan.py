"""SunSpec discovery: find the "SunS" marker and walk the model chain of a device.

The marker sits at one of the base addresses (40000, 0, 50000); after it each model is
``ID, L`` then ``L`` registers, until the ID ``0xFFFF``. The registers are read through any
``read(address, count)`` coroutine — in ``dgi probe --sunspec``, our async Modbus driver.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from config.sunspec import BASES, END_ID, MARKER, defined_length, model_name
from device_drivers.errors import DriverError

#: More models than any real device chains: a chain this long is corrupt.
MAX_MODELS = 64

Read = Callable[[int, int], Awaitable[list[int]]]


@dataclass(frozen=True)
class FoundModel:
    id: int
    name: str
    length: int
    address: int  # of its ID register (0-based)


@dataclass(frozen=True)
class Scan:
    base: int
    models: tuple[FoundModel, ...]

    def reference(self) -> str:
        """The ``profile = "sunspec:..."`` value for this chain: a model whose length differs
        from its definition's (more repeating groups) carries the device's length."""
        ids = ",".join(
            str(m.id) if m.length == defined_length(m.id) else f"{m.id}:{m.length}"
            for m in self.models
        )
        return f"sunspec:{ids}" + ("" if self.base == BASES[0] else f"@{self.base}")


class ScanError(Exception):
    """No marker, or a chain that does not end."""


async def find_base(read: Read) -> int:
    """The base address holding "SunS"; ScanError naming the addresses tried."""
    for base in BASES:
        try:
            if tuple(await read(base, 2)) == MARKER:
                return base
        except DriverError:
            continue  # an address the device does not have: try the next base
    raise ScanError("no SunSpec marker 'SunS' at 40000, 0 or 50000")


async def scan(read: Read) -> Scan:
    """The models the device chains after its marker, in order."""
    base = await find_base(read)
    address, found = base + 2, list[FoundModel]()
    for _ in range(MAX_MODELS):
        model_id, length = await read(address, 2)
        if model_id == END_ID:
            return Scan(base, tuple(found))
        found.append(FoundModel(model_id, model_name(model_id), length, address))
        address += 2 + length
    raise ScanError(f"the chain from {base} has more than {MAX_MODELS} models: no end (0xFFFF)")
