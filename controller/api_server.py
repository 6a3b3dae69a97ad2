"""The API process of a node: ``python -m controller.api_server --fd N ...`` (the node starts it).

It lowers its own CPU priority, binds the node's API address, tells the node it is ready,
then follows the node's messages (snapshots, events, write replies) until the node closes the
link, and exits. The only module that uses uvicorn.

Slow clients cannot hold it: a request's head and body must arrive within
``REQUEST_TIMEOUT_S`` of its first byte (:class:`GuardedH11`), an idle keep-alive connection
is closed after ``timeout_keep_alive``, and beyond ``MAX_CONNECTIONS`` uvicorn answers 503.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import stat
from pathlib import Path

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from config.files import SecretFileError, read_secret
from controller.api import ApiState, create_app
from controller.metrics import new_registry

log = logging.getLogger("dgi.api")

REQUEST_TIMEOUT_S = 10.0  # a request's head and body, from its first byte
IDLE_TIMEOUT_S = 5  # a keep-alive connection with no request
MAX_CONNECTIONS = 128


class GuardedH11(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, with a deadline for each request to arrive whole.

    uvicorn resets its keep-alive timer on every byte, so a client sending one byte a second
    would hold a connection (and a slot) forever. Here the clock starts with the request's
    first byte; a request still incomplete after ``REQUEST_TIMEOUT_S`` loses its connection.
    A response that takes long (an event stream) is not limited: its request is complete.
    """

    request_timeout_s = REQUEST_TIMEOUT_S

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._request_started: float | None = None
        self._watch: asyncio.TimerHandle | None = None
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._request_started is None and self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
            self._request_started = self.loop.time()
            self._watch = self.loop.call_later(self.request_timeout_s, self._deadline)
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._forget()

    def _deadline(self) -> None:
        self._watch = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            log.debug("closing a connection whose request took over %g s", self.request_timeout_s)
            self.transport.abort()

    def _forget(self) -> None:
        self._request_started = None
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._forget()

    def connection_lost(self, exc: Exception | None) -> None:
        self._forget()
        super().connection_lost(exc)


def read_token(path: Path | None) -> tuple[str | None, str]:
    """The bearer token, or None and why writes are disabled."""
    if path is None:
        return None, "writes are disabled: the site names no api_token_file"
    try:
        text, info = read_secret(path)
    except FileNotFoundError:
        return None, f"writes are disabled: token file {path} not found"
    except SecretFileError as exc:
        return None, f"writes are disabled: token file {exc}"
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None, f"writes are disabled: token file {path} is readable by others (chmod 600 it)"
    token = text.strip()
    if len(token) < 16:
        return None, f"writes are disabled: token in {path} is shorter than 16 characters"
    return token, ""


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
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
    token, problem = read_token(args.token_file)
    app = create_app(state, registry=new_registry(), token=token, token_problem=problem)
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
                state.snapshot = message["snapshot"]
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
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    os.nice(args.nice)
    raise SystemExit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
