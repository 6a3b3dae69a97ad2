"""Clients of the simulation server written from the protocol description (HIL.md §2, §3),
not from :mod:`hil`: a controller's rtds exchange and PSCAD's one-request connections."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Sequence

NO_VALUE = 1e8


class RtdsClient:
    """One persistent rtds connection: send the command packet, read the state packet."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, host: str, port: int) -> RtdsClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def exchange(self, commands: Sequence[float], n_states: int) -> list[float]:
        if commands:
            self.writer.write(struct.pack(f">{len(commands)}f", *commands))
            await self.writer.drain()
        if not n_states:
            return []
        data = await asyncio.wait_for(self.reader.readexactly(4 * n_states), 5)
        return list(struct.unpack(f">{n_states}f", data))

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def pscad(
    host: str, port: int, verb: str, values: Sequence[float] = (), n_commands: int = 0
) -> list[float]:
    """One request on its own connection: SET/RST send ``values`` (returning once the server
    has closed, i.e. applied them); GET reads ``n_commands``."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(
            verb.encode("ascii").ljust(5, b"\0") + struct.pack(f"<{len(values)}d", *values)
        )
        await writer.drain()
        if verb != "GET":
            # no reply to SET/RST: the server closes once it has applied the request
            await asyncio.wait_for(reader.read(), 5)
            return []
        data = await asyncio.wait_for(reader.readexactly(8 * n_commands), 5)
        return list(struct.unpack(f"<{n_commands}d", data))
    finally:
        writer.close()
        await writer.wait_closed()


async def send_raw(host: str, port: int, data: bytes) -> bytes:
    """Send ``data`` then half-close; all the server answers before it closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        writer.write_eof()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()
