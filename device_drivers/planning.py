"""Block planning: read a device's points in as few Modbus requests as possible.

Readable points of one table are sorted by address and merged into one request while the gap
between them is at most the profile's ``max_gap`` and the request stays within the Modbus
limits (125 registers, 2000 bits per read).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from config.profile import BIT_TABLES, Point

MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000


@dataclass(frozen=True)
class ReadBlock:
    """One read request: ``count`` registers or bits of ``table`` from ``address``."""

    table: str
    address: int
    count: int
    points: tuple[Point, ...]

    @property
    def last_address(self) -> int:
        return self.address + self.count - 1

    def span(self) -> str:
        return f"{self.table}[{self.address}..{self.last_address}]"

    def slice_for(self, point: Point) -> slice:
        start = point.address - self.address
        return slice(start, start + point.count)


def plan_reads(points: Iterable[Point], max_gap: int) -> list[ReadBlock]:
    """Group the readable points into read blocks, in table then address order."""
    blocks: list[ReadBlock] = []
    readable = sorted((p for p in points if p.readable), key=lambda p: (p.table, p.address))
    current: list[Point] = []
    for point in readable:
        if current and _fits(current, point, max_gap):
            current.append(point)
            continue
        if current:
            blocks.append(_block(current))
        current = [point]
    if current:
        blocks.append(_block(current))
    return blocks


def _fits(current: list[Point], point: Point, max_gap: int) -> bool:
    first = current[0]
    if point.table != first.table:
        return False
    end = max(p.last_address for p in current)
    limit = MAX_BITS_PER_READ if first.table in BIT_TABLES else MAX_REGISTERS_PER_READ
    gap = point.address - end - 1
    return gap <= max_gap and point.last_address - first.address + 1 <= limit


def _block(points: list[Point]) -> ReadBlock:
    start = points[0].address
    end = max(p.last_address for p in points)
    return ReadBlock(points[0].table, start, end - start + 1, tuple(points))
