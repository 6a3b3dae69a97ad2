"""FREEDM's RTDS adapter protocol, the controller's side (``docs/hil.md``; HIL.md §2).

One :class:`RtdsLink` per ``[[rtds]]`` adapter: a TCP client of the device server that, every
cycle, writes the whole command packet (big-endian float32 by table index; 1e8 for a command
never set), then reads exactly the state packet, then waits ``delay_ms``. Each read and write
has ``timeout_ms``. A table with no entries is skipped.

Unlike the original DGI, which exits on any I/O error, a link that fails marks its devices
stale (their reads raise, so the node stops drafting and, after the hold time, releases),
closes, and reconnects with backoff; its devices are usable again once a complete state packet
has come with a value (not 1e8) for each of their states. A short read — the peer sent fewer
bytes and closed — is an error, never a partial table. A command is acknowledged when a packet
carrying it has been written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable

from config.profile import Profile
from config.rtds import RtdsAdapter
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceTimeoutError,
    DeviceValueError,
    DriverError,
)
from device_drivers.points import PointDriver

log = logging.getLogger(__name__)

NO_VALUE = 1e8  # "no value" both ways
BACKOFF_S = (0.1, 0.2, 0.5, 1.0, 2.0)


def pack(values: list[float]) -> bytes:
    return struct.pack(f">{len(values)}f", *values)


def unpack(data: bytes) -> list[float]:
    return list(struct.unpack(f">{len(data) // 4}f", data))


def is_no_value(value: float) -> bool:
    return abs(value - NO_VALUE) <= NO_VALUE * 1e-6  # 1e8 survives float32 as 100000000.0


class RtdsLink:
    """One adapter's connection and its two tables (shared by the drivers it carries)."""

    def __init__(self, adapter: RtdsAdapter, clock: Callable[[], float] = time.time) -> None:
        self.adapter = adapter
        self.clock = clock
        self.states = sorted(adapter.states, key=lambda e: e.index)
        self.commands = sorted(adapter.commands, key=lambda e: e.index)
        self.command_values: list[float] = [NO_VALUE] * len(self.commands)
        self.state_values: list[float] | None = None  # the last complete packet (None: none)
        self.received_at: float | None = None
        self.cycles = 0  # command packets written
        self.errors = 0
        self.problem: str | None = "not connected yet"
        self.users = 0
        self._task: asyncio.Task[None] | None = None
        self._cycled = asyncio.Event()
        self.complete = asyncio.Event()  # set while the last state packet was complete

    @property
    def where(self) -> str:
        return f"{self.adapter.host}:{self.adapter.port}"

    def use(self) -> None:
        self.users += 1

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"rtds {self.adapter.name}")

    async def release(self) -> None:
        self.users -= 1
        if self.users <= 0 and self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def state(self, device: str, signal: str) -> float | None:
        """The last complete packet's value for (device, signal); None: 1e8, no value."""
        assert self.state_values is not None
        for entry, value in zip(self.states, self.state_values, strict=True):
            if entry.device == device and entry.signal == signal:
                return None if is_no_value(value) else value
        return None

    async def command(self, device: str, signal: str, value: float) -> None:
        """Set a command and wait until a packet carrying it is written."""
        for n, entry in enumerate(self.commands):
            if entry.device == device and entry.signal == signal:
                self.command_values[n] = value
                break
        else:
            raise DriverError(device, f"{signal} is in no command table of {self.adapter.name}")
        self.ensure_running()
        target = self.cycles + 1
        deadline = (self.adapter.delay_ms + 2 * self.adapter.timeout_ms) / 1000.0
        try:
            async with asyncio.timeout(deadline):
                while self.cycles < target:
                    self._cycled.clear()
                    await self._cycled.wait()
        except TimeoutError:
            why = self.problem or "no cycle"
            raise DeviceTimeoutError(
                device, f"{signal} not written to {self.where} within {deadline:g} s ({why})"
            ) from None

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                await self._connected()
                failures = 0
            except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                self.errors += 1
                self.state_values = None  # its devices are stale until a complete packet
                self.complete.clear()
                self.problem = _reason(exc, self.adapter.timeout_ms)
                level = logging.WARNING if failures == 0 else logging.DEBUG
                log.log(level, "rtds adapter %s (%s): %s; reconnecting", self.adapter.name,
                        self.where, self.problem)  # fmt: skip
                await asyncio.sleep(BACKOFF_S[min(failures, len(BACKOFF_S) - 1)])
                failures += 1

    async def _connected(self) -> None:
        timeout = self.adapter.timeout_ms / 1000.0
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(self.adapter.host, self.adapter.port)
        try:
            first = True
            while True:
                if self.commands:
                    writer.write(pack(self.command_values))
                    async with asyncio.timeout(timeout):
                        await writer.drain()
                self.cycles += 1
                self._cycled.set()
                if self.states:
                    async with asyncio.timeout(timeout):
                        data = await reader.readexactly(4 * len(self.states))
                    self.state_values = unpack(data)
                else:
                    self.state_values = []
                self.received_at = self.clock()
                self.complete.set()
                if first and self.problem is not None:
                    log.info("rtds adapter %s (%s): connected, packets complete",
                             self.adapter.name, self.where)  # fmt: skip
                self.problem, first = None, False
                await asyncio.sleep(self.adapter.delay_ms / 1000.0)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def _reason(exc: BaseException, timeout_ms: float) -> str:
    if isinstance(exc, asyncio.IncompleteReadError):
        return (f"short read: {len(exc.partial)} of {exc.expected} bytes, then the peer closed "
                "(no partial table is used)")  # fmt: skip
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout_ms:g} ms"
    return str(exc) or type(exc).__name__


class RtdsLinks:
    """The links of one node's drivers, one per adapter."""

    def __init__(self) -> None:
        self.links: dict[str, RtdsLink] = {}

    async def ready(self, within_s: float) -> None:
        """Connect every link and wait, at most ``within_s``, for each one's first complete
        packet (a starting node's first read then finds its devices; no link: no wait)."""
        for link in self.links.values():
            link.ensure_running()
        waits = [link.complete.wait() for link in self.links.values()]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), within_s)

    def link(self, adapter: RtdsAdapter) -> RtdsLink:
        found = self.links.get(adapter.name)
        if found is None:
            found = self.links[adapter.name] = RtdsLink(adapter)
        return found


class RtdsDriver(PointDriver):
    """One device carried by an rtds adapter."""

    kind = "an rtds device"

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        *,
        link: RtdsLink,
        stale_after_s: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(device_id, profile, stale_after_s=stale_after_s, clock=clock)
        self.link = link
        self._released = False
        link.use()

    def _readings(self) -> dict[str, float]:
        link = self.link
        link.ensure_running()
        if link.state_values is None:
            raise DeviceConnectionError(
                self.device_id, f"rtds adapter {link.adapter.name} ({link.where}): {link.problem}"
            )
        values = {}
        for point in self.profile.points:
            if not point.readable:
                continue
            value = link.state(self.device_id, point.signal)
            if value is None:
                raise DeviceValueError(
                    self.device_id, f"{point.signal}: no value yet (1e8 from {link.where})"
                )
            values[point.name] = value
        return values

    async def write(self, point_name: str, value: float) -> None:
        point = self._writable(point_name)
        self._in_range(point, value)
        self.stats.requests += 1
        try:
            await self.link.command(self.device_id, point.signal, value)
        except DriverError as exc:
            self._failed(exc)
            raise
        self.stats.writes += 1

    async def close(self) -> None:
        """Let go of the link (closed when its last device lets go); idempotent."""
        if not self._released:
            self._released = True
            await self.link.release()
