"""FREEDM's RTDS adapter protocol, the controller's side (``docs/hil.md``; HIL.md §2).

One :class:`RtdsLink` per ``[[rtds]]`` adapter: a TCP client of the device server that, every
cycle, writes the whole command packet (big-endian float32 by table index; 1e8 for a command
never set), then reads exactly the state packet. Cycles start ``delay_ms`` apart on a fixed
schedule (the original sleeps ``delay_ms`` after each exchange, so its cycle is the delay plus
the round trip); a slot the exchange overran is skipped and counted, not made up in a burst.
Each read and write has ``timeout_ms``. A table with no entries is skipped.

Unlike the original DGI, which exits on any I/O error, a link that fails marks its devices
stale (their reads raise, so the node stops drafting and, after the hold time, releases),
closes, and reconnects with backoff; its devices are usable again once a complete state packet
has come with a value (not 1e8) for each of their states. A short read — the peer sent fewer
bytes and closed — is an error, never a partial table. A command is acknowledged when a packet
carrying it has been answered (its state packet came back: the server has taken it; with no
states table, when it has been written).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Callable
from typing import cast

from config.profile import Point, Profile
from config.rtds import RtdsAdapter
from device_drivers.base import DeviceDriver
from device_drivers.errors import DeviceConnectionError, DeviceTimeoutError, DriverError

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
        self.cycles = 0  # command packets written and answered
        self.errors = 0
        self.problem: str | None = "not connected yet"
        self.users = 0
        self._task: asyncio.Task[None] | None = None
        self._cycled = asyncio.Event()
        self._in_flight = False  # a command packet is written, its answer not yet read
        self.skipped = 0  # cycles missed because an exchange overran its slot
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
        target = self.cycles + (2 if self._in_flight else 1)  # a packet on its way lacks it
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
                self._in_flight = False
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
        loop = asyncio.get_running_loop()
        delay = self.adapter.delay_ms / 1000.0
        epoch, cycle = loop.time(), 0  # cycle k starts at epoch + k × delay
        try:
            first = True
            while True:
                self._in_flight = True
                if self.commands:
                    writer.write(pack(self.command_values))
                    async with asyncio.timeout(timeout):
                        await writer.drain()
                if self.states:
                    async with asyncio.timeout(timeout):
                        data = await reader.readexactly(4 * len(self.states))
                    self.state_values = unpack(data)
                else:
                    self.state_values = []
                self.cycles += 1  # the packet was answered: the commands in it are taken
                self._in_flight = False
                self._cycled.set()
                self.received_at = self.clock()
                self.complete.set()
                if first and self.problem is not None:
                    log.info("rtds adapter %s (%s): connected, packets complete",
                             self.adapter.name, self.where)  # fmt: skip
                self.problem, first = None, False
                # a fixed schedule: the exchange's own time does not add up; a slot missed
                # (the exchange overran it) is skipped, not made up in a burst
                cycle += 1
                behind = int((loop.time() - epoch) / delay) - cycle + 1 if delay > 0 else 0
                if behind > 0:
                    self.skipped += behind
                    cycle += behind
                await asyncio.sleep(max(0.0, epoch + cycle * delay - loop.time()))
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


class RtdsDriver(DeviceDriver):
    """One device carried by an rtds adapter: its points are floats at their index in the
    adapter's packets (their location, :class:`~config.profile.Slot`)."""

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

    async def _read_points(self) -> dict[str, float | None]:
        """The last complete state packet's values (None: 1e8)."""
        link = self.link
        link.ensure_running()
        self.stats.requests += 1
        if link.state_values is None:
            raise DeviceConnectionError(
                self.device_id, f"rtds adapter {link.adapter.name} ({link.where}): {link.problem}"
            )
        return {
            p.name: link.state(self.device_id, p.signal) for p in self.profile.points if p.readable
        }

    async def _write_point(self, point: Point, prepared: object) -> None:
        await self.link.command(self.device_id, point.signal, cast(float, prepared))

    async def close(self) -> None:
        """Let go of the link (closed when its last device lets go); idempotent."""
        if not self._released:
            self._released = True
            await self.link.release()
