"""The listening side of a simulated Modbus/TCP endpoint: forwards frames, injects link faults.

Clients connect here; each connection gets its own connection to the pymodbus server behind
(on a private loopback port). Frames are read whole (MBAP header, then its length), so the
front can hold a request back (latency), swallow it (no answer), close the connection,
answer a Modbus exception itself, or garble the server's answer — per device, by unit id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from simulators.faults import DeviceFaults

log = logging.getLogger(__name__)

MBAP_BYTES = 7
MAX_FRAME = 260  # MBAP length field: unit id + PDU (at most 253 bytes)
BACKEND_TIMEOUT_S = 5.0  # the pymodbus server behind answers in microseconds
FaultsOf = Callable[[int], DeviceFaults | None]
CLOSE = None  # what _answer returns when the connection is to be closed


class FrameError(Exception):
    """The peer sent something that is not a Modbus/TCP frame."""


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(MBAP header, unit id + PDU); raise IncompleteReadError at end of stream."""
    header = await reader.readexactly(MBAP_BYTES - 1)
    length = int.from_bytes(header[4:6], "big")
    if not 2 <= length <= MAX_FRAME - MBAP_BYTES + 1 or header[2:4] != b"\0\0":
        raise FrameError(f"bad MBAP header {header.hex()}")
    return header, await reader.readexactly(length)


def exception_frame(header: bytes, body: bytes, code: int) -> bytes:
    """The Modbus exception response to a request (same transaction, unit and function)."""
    unit, function = body[0], body[1]
    return header[:4] + (3).to_bytes(2, "big") + bytes([unit, function | 0x80, code & 0xFF])


def garbled(frame: bytes) -> bytes:
    """Not a Modbus response: the header is kept (so the stream stays in step), the PDU is a
    function code no server sends, with a byte count that disagrees with the frame."""
    header, body = frame[: MBAP_BYTES - 1], frame[MBAP_BYTES - 1 :]
    return header + bytes([body[0], 0x7F]) + bytes([0xFF]) * max(0, len(body) - 2)


class FaultFront:
    """One listening endpoint in front of one pymodbus server."""

    def __init__(
        self, backend: tuple[str, int], faults_of: FaultsOf, *, label: str | None = None
    ) -> None:
        self.backend = backend
        self.faults_of = faults_of
        self.label = label  # given: each client connecting and leaving is logged (info)
        self.server: asyncio.Server | None = None
        self.connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self.frames = 0

    async def start(self, host: str, port: int) -> int:
        """Listen on host:port (0: any free port); return the bound port."""
        self.server = await asyncio.start_server(self._serve, host, port, reuse_address=True)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections[task] = writer
        backend: asyncio.StreamWriter | None = None
        peer = writer.get_extra_info("peername")
        peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
        requests = 0
        if self.label is not None:
            log.info("%s: Modbus client %s connected", self.label, peer)
        try:
            back_reader, backend = await asyncio.open_connection(*self.backend)
            while True:
                header, body = await read_frame(reader)
                self.frames += 1
                requests += 1
                answer = await self._answer(header, body, back_reader, backend)
                if answer is CLOSE:
                    break
                if answer:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, FrameError, TimeoutError) as exc:
            log.debug("connection ended: %r", exc)
        finally:
            if self.label is not None:
                log.info("%s: Modbus client %s left after %d request(s)",
                         self.label, peer, requests)  # fmt: skip
            self.connections.pop(task, None)
            for stream in (writer, backend):
                if stream is not None:
                    stream.close()
                    with contextlib.suppress(ConnectionError, OSError):
                        await stream.wait_closed()

    async def _answer(
        self,
        header: bytes,
        body: bytes,
        back_reader: asyncio.StreamReader,
        backend: asyncio.StreamWriter,
    ) -> bytes | None:
        """The bytes to send back (``b""``: nothing; ``CLOSE``: close the connection)."""
        faults = self.faults_of(body[0])
        fault = None
        if faults is not None:
            delay = faults.delay_s()
            if delay > 0:
                await asyncio.sleep(delay)
            fault = faults.link_fault()
        if fault == "close":
            return CLOSE
        if fault == "no_answer":
            return b""
        if fault == "exception" and faults is not None and faults.settings.exception is not None:
            return exception_frame(header, body, faults.settings.exception)
        backend.write(header + body)
        await backend.drain()
        reply_header, reply_body = await asyncio.wait_for(
            read_frame(back_reader), BACKEND_TIMEOUT_S
        )
        reply = reply_header + reply_body
        return garbled(reply) if fault == "garbage" else reply

    def drop_connections(self) -> None:
        """Close every client connection (a device restart); each handler then ends itself."""
        for writer in self.connections.values():
            writer.transport.abort()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.drop_connections()
            if self.connections:
                await asyncio.wait(list(self.connections), timeout=5)
            await self.server.wait_closed()
            self.server = None
