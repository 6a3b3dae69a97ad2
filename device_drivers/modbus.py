"""Modbus/TCP and Modbus RTU drivers on pymodbus's async clients.

This is the only client-side module that imports pymodbus. A :class:`ModbusLink` is one
connection (a TCP host:port, or a serial port with its RS-485 bus) shared by every device
behind it, guarded by one ``asyncio.Lock``. The link owns reconnection: pymodbus's own
reconnect loop is switched off (``reconnect_delay=0``) and the link retries with exponential
backoff when a device is next used, so an unreachable device costs nothing between attempts.
All pymodbus failures are converted to driver errors in :meth:`ModbusLink.call`; an answer
that is not a Modbus frame fails the request that waits for it (and drops the connection,
whose byte stream can no longer be trusted) instead of escaping into asyncio.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymodbus import FramerType
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException

from config.profile import Profile
from device_drivers.errors import (
    DeviceConnectionError,
    DeviceExceptionError,
    DeviceTimeoutError,
    DeviceValueError,
    DriverError,
    describe_exception,
    span,
)
from device_drivers.registers import RegisterDriver

log = logging.getLogger(__name__)

_READERS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete_input": "read_discrete_inputs",
}


class GarbledAnswer(Exception):
    """The device answered bytes that pymodbus cannot decode as a Modbus response."""


class ModbusLink:
    """One Modbus connection shared by the devices behind it.

    ``make_client`` receives the link's connection hook and returns the pymodbus client.
    """

    def __init__(
        self,
        name: str,
        make_client: Callable[[Callable[[bool], None]], Any],
        *,
        timeout_s: float,
        backoff_min_s: float = 0.2,
        backoff_max_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.client = make_client(self._connection_changed)
        self.timeout_s = timeout_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.lock = asyncio.Lock()
        self.users = 0
        self._backoff_s = backoff_min_s
        self._next_attempt = 0.0
        self._guard_frames()

    async def call(self, device: str, what: str, request: Callable[[Any], Awaitable[Any]]) -> Any:
        """Run one request under the lock; convert every failure to a ``DriverError``."""
        async with self.lock:
            await self._ensure_connected(device, what)
            try:
                result = await request(self.client)  # pymodbus bounds it with its timeout
            except GarbledAnswer as exc:
                raise DeviceValueError(
                    device, f"{what} failed: the answer is not a Modbus response ({exc})"
                ) from exc
            except (TimeoutError, ModbusIOException) as exc:
                raise DeviceTimeoutError(
                    device, f"{what} timed out after {self.timeout_s:g} s ({self.name})"
                ) from exc
            except ConnectionException as exc:
                self.client.close()
                raise DeviceConnectionError(
                    device, f"{what} failed: connection to {self.name} lost"
                ) from exc
            except ModbusException as exc:
                raise DriverError(device, f"{what} failed: {exc}") from exc
            if result.isError():
                code = int(getattr(result, "exception_code", 0))
                raise DeviceExceptionError(
                    device, f"{what} failed: {describe_exception(code)}", code
                )
            return result

    def _guard_frames(self) -> None:
        """Catch pymodbus's decoding error where it is raised, in the protocol's data callback
        (left alone it escapes into asyncio, which logs a traceback and drops the link)."""
        ctx = getattr(self.client, "ctx", None)
        decode = getattr(ctx, "callback_data", None)
        if ctx is None or decode is None:
            return

        def guarded(data: bytes, addr: tuple[str, int] | None = None) -> int:
            try:
                return int(decode(data, addr))
            except ModbusIOException as exc:
                pending = getattr(ctx, "response_future", None)
                if isinstance(pending, asyncio.Future) and not pending.done():
                    pending.set_exception(GarbledAnswer(f"{len(data)} bytes: {exc}"))
                asyncio.get_running_loop().call_soon(self.client.close)
                return len(data)

        ctx.callback_data = guarded

    def _connection_changed(self, connected: bool) -> None:
        """pymodbus's ``trace_connect`` hook.

        When the peer closes the connection during a request, pymodbus leaves the request
        waiting for its full timeout. Failing the pending response here reports the outage
        at once, so the node can go safe without waiting a timeout per device.
        """
        if connected:
            return
        pending = getattr(getattr(self.client, "ctx", None), "response_future", None)
        if isinstance(pending, asyncio.Future) and not pending.done():
            pending.set_exception(ConnectionException(f"connection to {self.name} lost"))

    async def _ensure_connected(self, device: str, what: str) -> None:
        if self.client.connected:
            return
        now = self.clock()
        if now < self._next_attempt:
            wait = self._next_attempt - now
            raise DeviceConnectionError(
                device, f"{what} skipped: {self.name} unreachable, next attempt in {wait:.1f} s"
            )
        try:
            connected = await self.client.connect()
        except (ModbusException, OSError) as exc:
            log.debug("connect to %s raised %r", self.name, exc)
            connected = False
        if connected:
            self._backoff_s = self.backoff_min_s
            self._next_attempt = 0.0
            return
        self._next_attempt = now + self._backoff_s
        self._backoff_s = min(self._backoff_s * 2, self.backoff_max_s)
        raise DeviceConnectionError(device, f"{what} failed: cannot connect to {self.name}")

    def close(self) -> None:
        self.client.close()


def _client_options(timeout_s: float, hook: Callable[[bool], None]) -> dict[str, Any]:
    """One attempt per request; the link, not pymodbus, reconnects (see the module docstring)."""
    return {"timeout": timeout_s, "retries": 0, "reconnect_delay": 0, "trace_connect": hook}


class LinkPool:
    """Creates links on demand and shares them: one per TCP endpoint or serial port."""

    def __init__(self) -> None:
        self.links: dict[tuple[object, ...], ModbusLink] = {}

    def tcp(self, host: str, port: int, *, timeout_s: float, framer: str = "socket") -> ModbusLink:
        key = ("tcp", host, port, framer)
        if key not in self.links:
            self.links[key] = ModbusLink(
                f"{host}:{port}",
                lambda hook: AsyncModbusTcpClient(
                    host,
                    port=port,
                    framer=FramerType.RTU if framer == "rtu" else FramerType.SOCKET,
                    **_client_options(timeout_s, hook),
                ),
                timeout_s=timeout_s,
            )
        return self._use(key)

    def rtu(
        self,
        serial_port: str,
        *,
        timeout_s: float,
        baudrate: int = 19200,
        parity: str = "N",
        bytesize: int = 8,
        stopbits: int = 1,
    ) -> ModbusLink:
        key = ("rtu", serial_port)
        if key not in self.links:
            self.links[key] = ModbusLink(
                serial_port,
                lambda hook: AsyncModbusSerialClient(
                    serial_port,
                    framer=FramerType.RTU,
                    baudrate=baudrate,
                    parity=parity,
                    bytesize=bytesize,
                    stopbits=stopbits,
                    **_client_options(timeout_s, hook),
                ),
                timeout_s=timeout_s,
            )
        return self._use(key)

    def _use(self, key: tuple[object, ...]) -> ModbusLink:
        link = self.links[key]
        link.users += 1
        return link

    def release(self, link: ModbusLink) -> None:
        """Drop one user; the last one closes the connection."""
        link.users -= 1
        if link.users <= 0:
            link.close()
            self.links = {k: v for k, v in self.links.items() if v is not link}

    def close(self) -> None:
        for link in self.links.values():
            link.close()
        self.links.clear()


class ModbusDriver(RegisterDriver):
    """A device at ``unit`` on a Modbus link (TCP or RTU)."""

    def __init__(
        self,
        device_id: str,
        profile: Profile,
        *,
        pool: LinkPool,
        link: ModbusLink,
        unit: int,
        verify: bool = False,
        stale_after_s: float = 2.0,
    ) -> None:
        super().__init__(device_id, profile, verify=verify, stale_after_s=stale_after_s)
        self.pool = pool
        self.link: ModbusLink | None = link
        self.unit = unit

    def _link(self) -> ModbusLink:
        if self.link is None:
            raise DeviceConnectionError(self.device_id, "is closed")
        return self.link

    async def _read_registers(self, table: str, address: int, count: int) -> list[int]:
        what = f"{span(table, address, count)} read"
        method = _READERS[table]
        result = await self._link().call(
            self.device_id,
            what,
            lambda c: getattr(c, method)(address, count=count, device_id=self.unit),
        )
        registers = list(result.registers)
        if len(registers) != count:
            raise DriverError(
                self.device_id, f"{what} returned {len(registers)} registers, not {count}"
            )
        return registers

    async def read_holding(self, address: int, count: int) -> list[int]:
        """Read holding registers outside the profile (``dgi probe --sunspec``)."""
        self.stats.requests += 1
        return await self._read_registers("holding", address, count)

    async def _read_bits(self, table: str, address: int, count: int) -> list[bool]:
        what = f"{span(table, address, count)} read"
        method = _READERS[table]
        result = await self._link().call(
            self.device_id,
            what,
            lambda c: getattr(c, method)(address, count=count, device_id=self.unit),
        )
        return [bool(bit) for bit in result.bits[:count]]

    async def _write_registers(self, address: int, registers: list[int]) -> None:
        what = f"{span('holding', address, len(registers))} write"
        if len(registers) == 1:
            await self._link().call(
                self.device_id,
                what,
                lambda c: c.write_register(address, registers[0], device_id=self.unit),
            )
        else:
            await self._link().call(
                self.device_id,
                what,
                lambda c: c.write_registers(address, registers, device_id=self.unit),
            )

    async def _write_bits(self, address: int, bits: list[bool]) -> None:
        await self._link().call(
            self.device_id,
            f"coil[{address}] write",
            lambda c: c.write_coil(address, bits[0], device_id=self.unit),
        )

    async def close(self) -> None:
        if self.link is not None:
            self.pool.release(self.link)
            self.link = None
