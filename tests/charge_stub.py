"""A stand-in for a site's charge entry: an asyncio HTTP/1.1 server on 127.0.0.1, port 0.

Its answers come from a *policy*: the request's number (from 0, in arrival order) and body
in, ``(status, headers, body)`` out. ``fixed_booking`` answers every request with the same
201 (``bench/loadtest_client.py``: what the load tester itself costs); ``ContractPolicy``
mimics the EV contract (docs/ev-charging.md) closely enough to check ``dgi loadtest``.
Keep-alive as HTTP/1.1 has it; an answer carrying ``Connection: close`` closes.

    python -m tests.charge_stub      # the fixed 201, prints its port, serves until stopped
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Answer = tuple[int, dict[str, str], bytes]
Policy = Callable[[int, bytes], Answer]
REASONS = {201: "Created", 400: "Bad Request", 422: "Unprocessable Content", 503: "Unavailable"}


def fixed_booking() -> Policy:
    """The same 201 charge answer to every request."""
    now = time.time()
    body = json.dumps({
        "ev_id": "ev-0", "session_id": "sst1-1-1", "substation": "sst1", "entry": "sst1",
        "granted_kw": 7.0, "started": now, "expected_end": now + 3600.0,
    }).encode()  # fmt: skip
    answer: Answer = (201, {"Content-Type": "application/json"}, body)
    return lambda n, request: answer


@dataclass
class ContractPolicy:
    """201s spread over ``substations`` in turn (started now, ending after the body's
    ``duration_s``, else an hour); every ``full_every``-th request (counting from 1) a 503
    with ``Retry-After`` that closes its connection; the requests numbered in ``invalid`` a
    422 naming ``power_kw``."""

    substations: tuple[str, ...] = ("sst1", "sst2", "sst3")
    full_every: int = 0
    invalid: frozenset[int] = frozenset()
    retry_after_s: int = 2
    booked: list[str] = field(default_factory=list)

    def __call__(self, n: int, request: bytes) -> Answer:
        if n in self.invalid:
            return _json(422, {"error": "power_kw: a number from 1.4 to 350"})
        if self.full_every and (n + 1) % self.full_every == 0:
            answer = {"error": "every substation is full", "retry_after_s": self.retry_after_s}
            extra = {"Retry-After": str(self.retry_after_s), "Connection": "close"}
            return _json(503, answer, extra)
        duration = float(json.loads(request).get("duration_s", 3600.0)) if request else 3600.0
        substation = self.substations[len(self.booked) % len(self.substations)]
        self.booked.append(substation)
        now = time.time()
        return _json(201, {
            "ev_id": f"ev-{n}", "session_id": f"{substation}-{n}", "substation": substation,
            "entry": "sst1", "granted_kw": 7.0, "started": now, "expected_end": now + duration,
        })  # fmt: skip


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


def encode(answer: Answer) -> tuple[bytes, bool]:
    """The bytes of an answer, and whether the connection stays open after it."""
    status, headers, body = answer
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body, headers.get("Connection", "").lower() != "close"


class ChargeStub:
    """The server; ``async with ChargeStub(policy) as stub:`` serves on ``stub.port``."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.requests = 0
        self.connections = 0  # accepted so far
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> ChargeStub:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        self.connections += 1
        try:
            while await self._one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length) if length else b""
        n, self.requests = self.requests, self.requests + 1
        data, keep = encode(self.policy(n, body))
        writer.write(data)
        await writer.drain()
        return keep


async def main() -> None:
    async with ChargeStub(fixed_booking()) as stub:
        print(stub.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)  # until EOF


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
