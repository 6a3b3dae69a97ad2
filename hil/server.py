"""The simulation server's listening ports: rtds ports for controllers, simulation ports for
PSCAD, all over one shared :class:`~hil.cells.Cells` table (HIL.md §2, §3).

* An **rtds** port serves any number of controllers at once, each on its own persistent
  connection: read the command packet (N_cmd × float32, big-endian), store every value that
  is not 1e8, reply with the state packet (N_state × float32, 1e8 for a state never set); and
  again. An empty command table is skipped: the state packet is then sent every
  ``stream_interval_s``; an empty state table means no reply. A client that leaves is logged;
  an I/O error ends that connection only.
* A **simulation** port takes one request per connection (:func:`hil.protocols.parse_request`):
  ``SET``/``RST`` overwrite the adapter's states (``RST`` then copies them into the commands),
  ``GET`` is answered with the adapter's commands as little-endian float64. A bad verb, a short
  or over-long payload, or a request not complete within ``request_timeout_s`` is logged and
  counted (:attr:`AdapterStats.bad_requests`), and that connection is closed.

``[[modbus]]`` serves cells as Modbus/TCP devices (:mod:`hil.modbus`) and ``[plant]`` runs the
built-in plant over them (:mod:`hil.plant`). Everything waits on sockets, never polls, so an
idle server uses no CPU; with a plant, its tick is the one timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hil.cells import Cells
from hil.config import Adapter, SimServerConfig
from hil.modbus import serve_cells, without_cells
from hil.plant import CellPlant
from hil.protocols import (
    ProtocolError,
    Request,
    decode_float32_be,
    encode_float32_be,
    encode_float64_le,
    parse_request,
)
from simulators.modbus_server import RunningServer, ServeError

log = logging.getLogger("hil.server")


@dataclass
class AdapterStats:
    """What one port has seen (a seam for status pages and tests)."""

    connections: int = 0
    open_connections: int = 0
    command_packets: int = 0
    state_packets: int = 0
    requests: int = 0
    bad_requests: int = 0


def cells_for(config: SimServerConfig) -> Cells:
    """The shared cells of every adapter of ``config``, with their initial values."""
    return Cells.for_keys(
        config.keys("states"),
        config.keys("commands"),
        config.initial("states"),
        config.initial("commands"),
    )


class SimServer:
    """Every adapter of a configuration, listening; :meth:`start` then :meth:`stop`."""

    def __init__(self, config: SimServerConfig, cells: Cells | None = None) -> None:
        self.config = config
        self.cells = cells if cells is not None else cells_for(config)
        self.stats = {adapter.name: AdapterStats() for adapter in config.adapters}
        self.plant = CellPlant(config.plant, self.cells) if config.plant is not None else None
        self.modbus: list[RunningServer] = []
        self._servers: dict[str, asyncio.Server] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    def address(self, name: str) -> tuple[str, int]:
        """Where adapter ``name`` listens (the real port when the file said 0)."""
        sockname = self._servers[name].sockets[0].getsockname()
        return str(sockname[0]), int(sockname[1])

    def modbus_address(self, device: str) -> tuple[str, int]:
        """Where the Modbus exposure of ``device`` listens (the real port when the file
        said 0)."""
        for server in self.modbus:
            if any(image.device.id == device for image in server.images):
                return server.host, server.port
        raise KeyError(f"{device} is not served over Modbus")

    async def start(self) -> None:
        """Listen on every adapter's port and Modbus exposure, then start the plant;
        :class:`OSError` (all closed again) if a port cannot be had."""
        try:
            for adapter in self.config.adapters:
                self._servers[adapter.name] = await asyncio.start_server(
                    self._handler(adapter), adapter.host, adapter.port
                )
                log.info(
                    "adapter %s (%s) listening on %s:%d: %d state(s), %d command(s)",
                    adapter.name, adapter.type, adapter.host, adapter.port,
                    len(adapter.states), len(adapter.commands),
                )  # fmt: skip
            try:
                self.modbus = await serve_cells(self.config.modbus, self.cells)
            except ServeError as exc:
                raise OSError(str(exc)) from exc
            for server in self.modbus:
                devices = ", ".join(image.device.id for image in server.images)
                log.info("modbus %s listening on %s", devices, server.where)
            for exposure in self.config.modbus:
                missing = without_cells(exposure, self.cells)
                if missing:
                    log.warning(
                        "modbus %s: %s of profile %s in no state cell: always no value (1e8)",
                        exposure.device, ", ".join(missing), exposure.profile.name,
                    )  # fmt: skip
        except OSError:
            await self.stop()
            raise
        if self.plant is not None:
            self.plant.start()

    async def stop(self) -> None:
        """Stop the plant, stop listening and end every connection."""
        if self.plant is not None:
            await self.plant.stop()
        modbus, self.modbus = self.modbus, []
        for running in modbus:
            await running.stop()
        for server in self._servers.values():
            server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers.values():
            await server.wait_closed()
        self._servers.clear()

    def _handler(
        self, adapter: Adapter
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        serve = self._serve_rtds if adapter.type == "rtds" else self._serve_simulation

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            stats = self.stats[adapter.name]
            stats.connections += 1
            stats.open_connections += 1
            try:
                await serve(adapter, reader, writer, _peer(writer))
            except asyncio.CancelledError:
                pass
            finally:
                stats.open_connections -= 1
                self._tasks.discard(task)
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()

        return handle

    async def _serve_rtds(
        self,
        adapter: Adapter,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        stats = self.stats[adapter.name]
        log.info("adapter %s: controller %s connected", adapter.name, peer)
        commands, states = adapter.command_keys, adapter.state_keys
        packets = 0
        reason = "closed the connection"
        try:
            while True:
                if commands:
                    data = await reader.readexactly(4 * len(commands))
                    self.cells.store_commands(commands, decode_float32_be(data))
                    stats.command_packets += 1
                    packets += 1
                elif states:
                    await asyncio.sleep(adapter.stream_interval_s)
                else:
                    await reader.read()  # nothing to exchange: wait for the client to leave
                    break
                if states:
                    writer.write(encode_float32_be(self.cells.read_states(states)))
                    await writer.drain()
                    stats.state_packets += 1
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                reason = f"left in the middle of a command packet ({len(exc.partial)} bytes)"
        except OSError as exc:
            reason = f"connection error: {exc}"
        finally:
            log.info("adapter %s: controller %s left (%s) after %d packet(s)",
                     adapter.name, peer, reason, packets)  # fmt: skip

    async def _serve_simulation(
        self,
        adapter: Adapter,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        stats = self.stats[adapter.name]
        log.debug("adapter %s: simulation client %s connected", adapter.name, peer)
        try:
            request = await self._read_request(adapter, reader)
            stats.requests += 1
            if request.verb == "GET":
                writer.write(encode_float64_le(self.cells.read_commands(adapter.command_keys)))
                await writer.drain()
            elif request.verb == "SET":
                self.cells.overwrite_states(adapter.state_keys, request.values)
            else:
                self.cells.reset(adapter.state_keys, request.values)
            log.debug("adapter %s: %s from %s", adapter.name, request.verb, peer)
        except ProtocolError as exc:
            stats.bad_requests += 1
            log.warning("adapter %s: bad request from %s: %s; connection closed",
                        adapter.name, peer, exc)  # fmt: skip
        except OSError as exc:
            stats.bad_requests += 1
            log.warning("adapter %s: connection error with %s: %s", adapter.name, peer, exc)
        finally:
            log.debug("adapter %s: simulation client %s left", adapter.name, peer)

    async def _read_request(self, adapter: Adapter, reader: asyncio.StreamReader) -> Request:
        """All bytes the client sends until they make a request (or break the protocol)."""
        data = b""
        n_states = len(adapter.states)
        timeout = self.config.request_timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (request := parse_request(data, n_states, complete=False)) is None:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), deadline - loop.time())
            except TimeoutError:
                raise ProtocolError(
                    f"no whole request within {timeout:g} s ({len(data)} byte(s) received)"
                ) from None
            if not chunk:
                parse_request(data, n_states, complete=True)  # raises: the request is short
                raise ProtocolError("connection closed before a whole request")
            data += chunk
        return request


def _peer(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    return f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)
