"""The node's side of its API process.

The status API runs in a child process at lower CPU priority, so even a flood of requests
cannot delay a round: the node pushes one snapshot after every round and one event per round,
migration and state change down a socket pair (JSON lines), and the API process serves them.
Writes (``PUT /api/v1/control``) and charging requests come back up the same socket and are
answered, each in its own task: a charging request that waits for a peer's answer holds no
other request up.

Publishing never waits: if the API process falls behind by more than ``MAX_BUFFER`` bytes,
messages are dropped (and counted) instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from controller.api.models import Snapshot
from controller.logs import current_format

log = logging.getLogger(__name__)

MAX_BUFFER = 4 << 20
Json = dict[str, Any]
#: A handler's answer: a body (status 200), or (status, body, headers).
Reply = Json | tuple[int, Json, dict[str, str]]
WriteHandler = Callable[[str, Json], Awaitable[Reply]]


class ApiStartError(RuntimeError):
    """The API process could not start (usually: its address is in use)."""


class ApiLink:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        node_id: str,
        token_file: Path | None,
        on_write: WriteHandler,
        nice: int = 10,
    ) -> None:
        self.host, self.port, self.node_id = host, port, node_id
        self.token_file = token_file
        self.on_write = on_write
        self.nice = nice
        self.dropped = 0
        self.process: asyncio.subprocess.Process | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._open = asyncio.Event()  # clear while a round runs: requests wait for its end
        self._open.set()

    async def start(self, first: Snapshot) -> None:
        """Spawn the API process, hand it the first snapshot, wait until it listens."""
        ours, theirs = socket.socketpair()
        args = [sys.executable, "-m", "controller.api.server", "--fd", str(theirs.fileno())]
        args += [
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--node",
            self.node_id,
            "--nice",
            str(self.nice),
            "--log-format",
            current_format(),
        ]
        if self.token_file is not None:
            args += ["--token-file", str(self.token_file)]
        self.process = await asyncio.create_subprocess_exec(*args, pass_fds=[theirs.fileno()])
        theirs.close()
        reader, self._writer = await asyncio.open_connection(sock=ours)
        self.publish_snapshot(first)
        line = await asyncio.wait_for(reader.readline(), 30)
        message = (
            json.loads(line) if line else {"type": "failed", "reason": "the API process exited"}
        )
        if message.get("type") != "ready":
            await self.stop()
            raise ApiStartError(f"API on {self.host}:{self.port}: {message.get('reason')}")
        self._reader_task = asyncio.create_task(self._serve_writes(reader), name="api writes")

    def publish_snapshot(self, snapshot: Snapshot) -> None:
        self.publish({"type": "snapshot", "snapshot": snapshot.model_dump(mode="json")})

    def publish(self, message: Json) -> None:
        """Queue one message for the API process; never blocks, drops when it lags."""
        writer = self._writer
        if writer is None or writer.is_closing():
            return
        if writer.transport.get_write_buffer_size() > MAX_BUFFER:
            self.dropped += 1
            return
        writer.write(json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n")

    def hold(self) -> None:
        """A round starts: take no request from the API process until :meth:`go` — a rush of
        charging requests must not delay the round's device reads (they wait in the link)."""
        self._open.clear()

    def go(self) -> None:
        self._open.set()

    async def _serve_writes(self, reader: asyncio.StreamReader) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while line := await reader.readline():
                await self._open.wait()
                task = asyncio.create_task(self._answer(json.loads(line)))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            log.warning("the API process of %s went away", self.node_id)
        finally:
            for task in tasks:
                task.cancel()

    async def _answer(self, request: Json) -> None:
        try:
            reply = await self.on_write(request["action"], request.get("args", {}))
        except ValueError as exc:
            reply = (400, {"error": str(exc)}, {})
        status, body, headers = reply if isinstance(reply, tuple) else (200, reply, {})
        message = {"type": "reply", "id": request["id"], "status": status, "body": body}
        if headers:
            message["headers"] = headers
        self.publish(message)

    async def stop(self) -> None:
        """Close the link (the API process exits on end of file) and reap it; idempotent."""
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
            self._reader_task = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.process is not None and self.process.returncode is None:
            try:
                await asyncio.wait_for(self.process.wait(), 5)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        self.process = None
