"""The load tester's HTTP client and runner against real servers on 127.0.0.1 (port 0): the
charge stub, and raw servers that answer with scripted bytes (chunked, HTTP/1.0, closing an
idle connection, never answering)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from controller.loadtest import plan as plans
from controller.loadtest.client import Connection, HttpError, Pool, Target
from controller.loadtest.runner import run_plan
from controller.loadtest.stats import summarize
from tests.charge_stub import ChargeStub, ContractPolicy, fixed_booking

pytestmark = pytest.mark.timeout(30)


def target(port: int) -> Target:
    return Target.parse(f"http://127.0.0.1:{port}", endpoint="/charge")


async def test_a_pool_keeps_its_connections_alive() -> None:
    async with ChargeStub(fixed_booking()) as stub, Pool(target(stub.port), 1, 5.0) as pool:
        answers = [await pool.send(target(stub.port).post(b"")) for _ in range(5)]
    assert [a.status for a in answers] == [201] * 5
    assert stub.connections == 1


async def test_an_answer_with_connection_close_closes_and_the_next_request_reconnects() -> None:
    async with ChargeStub(ContractPolicy(full_every=2)) as stub:
        request = target(stub.port).post(b'{"duration_s": 60}')
        async with Pool(target(stub.port), 1, 5.0) as pool:
            answers = [await pool.send(request) for _ in range(6)]
    assert [a.status for a in answers] == [201, 503, 201, 503, 201, 503]
    assert answers[1].headers["retry-after"] == "2"
    assert not answers[1].keep_alive
    assert stub.connections == 3


@contextlib.asynccontextmanager
async def scripted(*answers: bytes, close_after: bool = False) -> AsyncIterator[int]:
    """A server that reads one request head per answer, writes the answer, and closes after
    the last one (or after each with ``close_after``); it never answers past its script."""
    script = list(answers)
    writers: list[asyncio.StreamWriter] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while script:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(script.pop(0))
                await writer.drain()
                if close_after:
                    break
            if not close_after and not script:
                await reader.read()  # leave the connection open, answer nothing more
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in writers:
            writer.close()
        await server.wait_closed()


CHUNKED = b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\n{"a"\r\n3\r\n:1}\r\n0\r\nX-T: 1\r\n\r\n'
HTTP10 = b'HTTP/1.0 201 Created\r\nContent-Type: application/json\r\n\r\n{"a":2}'
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"
OK = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}"


@pytest.mark.parametrize(
    ("answer", "body", "keep"),
    [(CHUNKED, b'{"a":1}', True), (HTTP10, b'{"a":2}', False), (CONTINUE, b"{}", True)],
    ids=["chunked", "http10-to-close", "100-continue"],
)
async def test_bodies_however_framed(answer: bytes, body: bytes, keep: bool) -> None:
    async with scripted(answer, close_after=not keep) as port:  # HTTP/1.0: the close ends it
        conn = Connection(target(port), 5.0)
        try:
            response = await conn.send(target(port).post(b""))
        finally:
            was_open = conn.is_open
            await conn.close()
    assert (response.status, response.body, response.keep_alive) == (201, body, keep)
    assert was_open == keep


async def test_a_connection_the_server_closed_while_idle_is_replaced_once() -> None:
    async with scripted(OK, OK, close_after=True) as port, Pool(target(port), 1, 5.0) as pool:
        first = await pool.send(target(port).post(b""))
        await asyncio.sleep(0.05)  # the server has closed it meanwhile
        second = await pool.send(target(port).post(b""))
    assert (first.status, second.status) == (201, 201)


async def test_errors_say_their_kind_and_place() -> None:
    async with scripted() as port:  # accepts, never answers
        conn = Connection(target(port), 0.3)
        with pytest.raises(
            HttpError, match=rf"127.0.0.1:{port}: waiting for the answer: no progress within 0.3 s"
        ) as caught:
            await conn.send(target(port).post(b""))
        assert caught.value.kind == "timeout"
        await conn.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(HttpError, match="connecting: connection refused") as caught:
        await Connection(target(closed), 1.0).open()
    assert caught.value.kind == "connection refused"
    async with scripted(b"SSH-2.0-x\r\n\r\n") as port:
        conn = Connection(target(port), 1.0)
        with pytest.raises(HttpError, match="bad status line") as caught:
            await conn.send(target(port).post(b""))
        assert caught.value.kind == "bad answer"
        assert not conn.is_open


async def test_a_rush_opens_a_connection_per_request_and_releases_them_together() -> None:
    async with ChargeStub(ContractPolicy()) as stub:
        run = await run_plan(plans.rush(300), target(stub.port), b"", timeout_s=10.0, connections=1)
    summary = summarize(run.outcomes)
    assert stub.connections == 300
    assert summary.booked == 300
    assert summary.per_substation == {"sst1": 100, "sst2": 100, "sst3": 100}
    assert summary.max_spread == 1
    assert run.released_s is not None
    assert run.released_s < 0.5


async def test_sustained_is_open_loop_on_a_bounded_pool() -> None:
    async with ChargeStub(fixed_booking()) as stub:
        plan = plans.sustained(500, 0.4)
        run = await run_plan(plan, target(stub.port), b"", timeout_s=10.0, connections=4)
    summary = summarize(run.outcomes)
    assert summary.booked == 200
    assert stub.connections <= 4
    assert sorted(o.scheduled_s for o in run.outcomes) == list(plan.offsets_s)
