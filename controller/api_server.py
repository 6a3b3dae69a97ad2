"""The API process of a node: ``python -m controller.api_server --fd N ...`` (the node starts it).

It lowers its own CPU priority, binds the node's API address, tells the node it is ready,
then follows the node's messages (snapshots, events, write replies) until the node closes the
link, and exits. The only module that uses uvicorn.
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

import uvicorn

from controller.api import ApiState, create_app
from controller.metrics import new_registry

log = logging.getLogger("dgi.api")


def read_token(path: Path | None) -> tuple[str | None, str]:
    """The bearer token, or None and why writes are disabled."""
    if path is None:
        return None, "writes are disabled: the site names no api_token_file"
    try:
        info = path.stat()
    except FileNotFoundError:
        return None, f"writes are disabled: token file {path} not found"
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return None, f"writes are disabled: token file {path} is readable by others (chmod 600 it)"
    token = path.read_text(encoding="utf-8").strip()
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
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
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
