"""The API process of a node: ``python -m controller.api.server --fd N ...`` (the node starts it).

It lowers its own CPU priority, binds the node's API address, tells the node it is ready,
then follows the node's messages (snapshots, events, write replies) until the node closes the
link, and exits. The only module that uses uvicorn.

Slow clients cannot hold it: a request must arrive whole within ``REQUEST_TIMEOUT_S`` of
the connection or of the previous answer, a client that stops reading is cut off after
``STALL_TIMEOUT_S`` (:class:`GuardedH11`), an idle keep-alive connection is closed after
``IDLE_TIMEOUT_S``, and beyond ``MAX_CONNECTIONS`` uvicorn answers 503. A connection closed
while its client still sends (a refused upload) lingers for at most ``LINGER_BYTES`` and
``LINGER_S``, so the client reads its answer rather than a reset.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import signal
import socket
import stat
from pathlib import Path
from typing import Any, cast

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from config.files import SecretFileError, read_secret
from controller.api.app import ApiState, create_app
from controller.api.metrics import new_registry
from controller.api.models import Snapshot
from controller.command_name import dgi_command
from controller.logs import setup_logging

log = logging.getLogger("dgi.api")

REQUEST_TIMEOUT_S = 10.0  # a request must arrive whole: from the connection or last answer
IDLE_TIMEOUT_S = 5  # a keep-alive connection with no request
STALL_TIMEOUT_S = 30.0  # a client that stops reading what it is sent (an event stream)
MAX_CONNECTIONS = 2048  # a rush hour of 500 charging requests, each on its own connection
OPEN_FILES = MAX_CONNECTIONS + 256  # the descriptors that needs (raised up to the hard limit)
LINGER_BYTES = 1 << 20  # what a refused upload may still send before its connection closes
LINGER_S = 5.0  # and for how long


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with deadlines no client can dodge.

    * A request must arrive whole within ``REQUEST_TIMEOUT_S`` of the connection, or of the
      answer to the previous request: uvicorn resets its keep-alive timer on every byte (a
      client sending one byte a second holds a slot forever) and arms none at connect (a
      client that connects and says nothing would too).
    * A client that stops reading — its socket buffer full, uvicorn paused writing to it —
      for ``STALL_TIMEOUT_S`` loses its connection (an event stream nobody reads).
    * A connection closed while the client still sends — the rest of a request body answered
      unread (a refused upload), or of a request uvicorn could not parse — is not closed at
      once: closing with unread bytes makes the kernel reset the connection, and the reset
      can destroy the answer before the client has read it. The answer is sent, then the
      end of the stream (FIN); what still comes is dropped until the client closes, or for
      ``LINGER_BYTES`` and ``LINGER_S`` at most (then the connection closes anyway).

    A response that takes long is not limited while the client reads it.
    """

    request_timeout_s = REQUEST_TIMEOUT_S
    stall_timeout_s = STALL_TIMEOUT_S
    linger_bytes = LINGER_BYTES
    linger_s = LINGER_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: asyncio.TimerHandle | None = None
        self._stall: asyncio.TimerHandle | None = None
        self._socket = transport
        self._dropped: int | None = None  # bytes dropped while lingering; None: not lingering
        self._linger_end: asyncio.TimerHandle | None = None
        self._shutting_down = False
        # uvicorn closes a connection in several places, all through its transport's close()
        super().connection_made(cast(asyncio.Transport, _ClosesThrough(transport, self)))
        self._arm()

    @property
    def lingering(self) -> bool:
        return self._dropped is not None

    def close_connection(self) -> None:
        """uvicorn closes the connection: at once, unless the client is still sending."""
        still_sending = self.conn.their_state in (h11.SEND_BODY, h11.ERROR)
        if (
            self.lingering
            or not still_sending
            or self._socket.get_protocol() is not self  # handed over: a WebSocket upgrade
            or self._shutting_down
            or self._socket.is_closing()
            or not self._socket.can_write_eof()
        ):
            self._socket.close()
            return
        log.debug(
            "lingering after an answer: dropping what the client still sends, up to %d bytes"
            " or %g s, before closing",
            self.linger_bytes,
            self.linger_s,
        )
        self._disarm()
        self._dropped = 0
        self._socket.write_eof()  # after the answer; the client's EOF then closes the socket
        self._socket.resume_reading()  # uvicorn pauses reading at 64 KiB of unread body
        self._linger_end = self.loop.call_later(self.linger_s, self._socket.close)

    def data_received(self, data: bytes) -> None:
        if self._dropped is not None:
            self._dropped += len(data)
            if self._dropped > self.linger_bytes:
                self._socket.close()
            return
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._disarm()  # the request is in; the app answers it

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # for the next request (maybe already half here, pipelined)

    def shutdown(self) -> None:
        self._shutting_down = True  # the server stops: no lingering to hold its exit
        super().shutdown()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.debug("closing a connection whose request took over %g s", self.request_timeout_s)
            self.transport.abort()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall is None:
            self._stall = self.loop.call_later(self.stall_timeout_s, self._stalled)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None

    def _stalled(self) -> None:
        self._stall = None
        if not self.transport.is_closing():
            log.debug("closing a connection that read nothing for %g s", self.stall_timeout_s)
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._linger_end is not None:
            self._linger_end.cancel()
            self._linger_end = None
        if self._stall is not None:
            self._stall.cancel()
            self._stall = None
        super().connection_lost(exc)


class _ClosesThrough:
    """The transport as uvicorn sees it: the socket's, but ``close`` is the protocol's
    (:meth:`GuardedH11.close_connection`), and it is closing while the protocol lingers."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedH11) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def close(self) -> None:
        self._protocol.close_connection()

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()


def read_token(path: Path | None) -> tuple[str | None, str]:
    """The bearer token, or None and why writes are disabled (with how to fix it). Read
    when a write arrives: a token file created or replaced while the node runs works at once."""
    if path is None:
        return None, "writes are disabled: the site names no api_token_file"
    create = f"create one with: {dgi_command()} api-token {path}"
    try:
        text, info = read_secret(path)
    except FileNotFoundError:
        return None, f"writes are disabled: token file {path} not found ({create})"
    except SecretFileError as exc:
        return None, f"writes are disabled: token file {exc}"
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None, f"writes are disabled: token file {path} is readable by others (chmod 600 it)"
    token = text.strip()
    if len(token) < 16:
        return (
            None,
            f"writes are disabled: token in {path} is shorter than 16 characters ({create})",
        )
    return token, ""


def bind(host: str, port: int) -> socket.socket:
    """The listening socket. Its protocol is named (IPPROTO_TCP): asyncio sets TCP_NODELAY
    only on sockets that say so, and under Nagle's algorithm the body of an answer (uvicorn
    writes the head, then the body) waits for the client's delayed ACK of the head — 40 ms
    per request on a kept-alive connection."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


async def serve(args: argparse.Namespace) -> int:
    link = socket.socket(fileno=args.fd)
    reader, writer = await asyncio.open_connection(sock=link)

    def send(message: dict[str, object]) -> None:
        writer.write(json.dumps(message).encode() + b"\n")

    state = ApiState(args.node)
    state.send = send
    app = create_app(state, registry=new_registry(), tokens=lambda: read_token(args.token_file))
    try:
        listening = bind(args.host, args.port)
    except OSError as exc:
        send(
            {"type": "failed", "reason": f"cannot listen: {exc.strerror or exc} (address in use?)"}
        )
        await writer.drain()
        return 1
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            log_config=None,  # uvicorn's records go through the node's format (text or JSON)
            access_log=False,
            lifespan="off",
            http=GuardedH11,
            timeout_keep_alive=IDLE_TIMEOUT_S,
            limit_concurrency=MAX_CONNECTIONS,
        )
    )
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no started event
        await asyncio.sleep(0.01)
    send({"type": "ready"})
    try:
        while line := await reader.readline():
            message = json.loads(line)
            kind = message["type"]
            if kind == "snapshot":
                state.snapshot = Snapshot.model_validate(message["snapshot"])
            elif kind == "event":
                state.event(message)
            elif kind == "reply":
                state.reply(message)
    finally:
        server.should_exit = True
        await serving
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the node's end of the link")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--node", required=True)
    parser.add_argument("--token-file", type=Path)
    parser.add_argument("--nice", type=int, default=10, help="lower CPU priority than the node")
    parser.add_argument("--log-format", choices=("text", "json"), default="text")
    args = parser.parse_args()
    # Ctrl-C reaches the whole process group; this process ends when its node closes the
    # link (or dies), so it leaves the signal to the node instead of dying mid-answer.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    setup_logging(quiet=True, fmt=args.log_format)
    os.nice(args.nice)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    raise SystemExit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
