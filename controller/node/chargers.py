"""A node's EV chargers at run time: the power its charging sessions may draw, written as each
charger's ``power_limit``.

The EV module says how much the substation's sessions may draw together
(:class:`controller.core.effects.ChargeLimit`); it is shared evenly between the node's Evse
devices, each share within its point's limits, written in the background (a round never
waits for a charger) and always the newest: limits asked for while a write is in flight are
coalesced. A write that fails is logged on its first failure, counted, and written again at
the next round; while the node is released to its failsafe values nothing is written, and the
limit is written again when it resumes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from device_drivers.base import DeviceDriver
from device_drivers.errors import DriverError

log = logging.getLogger(__name__)

SIGNAL = "power_limit"


class Chargers:
    def __init__(self, drivers: Sequence[DeviceDriver]) -> None:
        self.drivers = sorted(drivers, key=lambda d: d.device_id)
        self.wanted_kw: float | None = None
        self.written_kw: float | None = None
        self.errors = 0
        self.released = False
        self._failing = False
        self._task: asyncio.Task[None] | None = None

    def limit(self, kw: float) -> None:
        """Let the chargers draw ``kw`` together."""
        self.wanted_kw = kw
        self.retry()

    def retry(self) -> None:
        """Write the wanted limit if it is not written (after a failure or a resume)."""
        if self.released or not self.drivers or self.wanted_kw is None:
            return
        if self.written_kw == self.wanted_kw:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_loop(), name="chargers")

    def shares(self, kw: float) -> list[tuple[DeviceDriver, float]]:
        """Each charger's part of ``kw``, within what its ``power_limit`` point accepts."""
        share = kw / len(self.drivers)
        out = []
        for driver in self.drivers:
            point = next((p for p in driver.profile.points if p.signal == SIGNAL), None)
            low = point.min if point is not None and point.min is not None else 0.0
            high = point.max if point is not None and point.max is not None else share
            out.append((driver, min(max(share, low), high)))
        return out

    async def _write_loop(self) -> None:
        while not self.released and self.wanted_kw is not None:
            kw = self.wanted_kw
            if kw == self.written_kw:
                return
            parts = self.shares(kw)
            results = await asyncio.gather(
                *(d.command(SIGNAL, value) for d, value in parts), return_exceptions=True
            )
            failed = [(d, r) for (d, _), r in zip(parts, results, strict=True) if r is not None]
            for driver, result in failed:
                if not isinstance(result, DriverError):
                    raise result
                self.errors += 1
                level = logging.DEBUG if self._failing else logging.WARNING
                log.log(level, "charging limit of %s not written: %s (again next round)",
                        driver.device_id, result)  # fmt: skip
            if failed:
                self._failing = True
                return
            if self._failing:
                log.info("charging limit %g kW written again", kw)
                self._failing = False
            self.written_kw = kw

    def release(self) -> None:
        """The node went safe: its failsafe values hold; nothing is written until resume."""
        self.released = True
        self.written_kw = None

    def resume(self) -> None:
        self.released = False
        self.retry()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
