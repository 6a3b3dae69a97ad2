"""``dgi simserver`` on real sockets, driven by clients written from the protocol description
(tests/pscad_client.py): rtds values both ways, 1e8 semantics, SET/RST/GET, cells shared
across adapters, bad requests, connect/leave logging, and the server as a process."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hil.config import check_document
from hil.server import SimServer
from tests.conftest import free_port
from tests.helpers import cpu_during, simserver_process, terminated
from tests.pscad_client import NO_VALUE, RtdsClient, pscad, send_raw

HOST = "127.0.0.1"


def entry(table: str, index: int, device: str, kind: str, signal: str, value: str = "") -> str:
    extra = f"\nvalue = {value}" if value else ""
    return (
        f'[[adapters.{table}]]\nindex = {index}\ndevice = "{device}"\ntype = "{kind}"\n'
        f'signal = "{signal}"{extra}\n'
    )


def config_text(ports: dict[str, int]) -> str:
    """Controller "a" reads the gateway (initially 111.11) and the PV and commands the gateway
    and the storage; "b" shares the gateway; "stream" has no command table; PSCAD has all."""
    return "\n".join(
        [
            "[server]\nrequest_timeout_ms = 500\n",
            f'[[adapters]]\nname = "a"\ntype = "rtds"\nport = {ports["a"]}\n',
            entry("states", 1, "gw", "Sst", "gateway", "111.11"),
            entry("states", 2, "pv", "Drer", "generation"),
            entry("commands", 1, "gw", "Sst", "gateway"),
            entry("commands", 2, "st", "Desd", "storage"),
            f'[[adapters]]\nname = "b"\ntype = "rtds"\nport = {ports["b"]}\n',
            entry("states", 1, "gw", "Sst", "gateway"),
            entry("commands", 1, "gw", "Sst", "gateway"),
            f'[[adapters]]\nname = "stream"\ntype = "rtds"\nport = {ports["stream"]}\n'
            "stream_interval_ms = 20\ncommands = []\n",
            entry("states", 1, "pv", "Drer", "generation"),
            f'[[adapters]]\nname = "pscad"\ntype = "simulation"\nport = {ports["pscad"]}\n',
            entry("states", 1, "gw", "Sst", "gateway"),
            entry("states", 2, "pv", "Drer", "generation"),
            entry("states", 3, "st", "Desd", "storage"),
            entry("commands", 1, "gw", "Sst", "gateway"),
            entry("commands", 2, "st", "Desd", "storage"),
        ]
    )


def f32(value: float) -> float:
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("a", "b", "stream", "pscad")}


@pytest.fixture
async def server(ports: dict[str, int]) -> AsyncIterator[SimServer]:
    text = config_text(ports)
    sim = SimServer(check_document(tomllib.loads(text), text, "t.toml"))
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def until(condition: object, within_s: float = 5) -> None:
    deadline = time.monotonic() + within_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_rtds_values_both_ways_with_1e8_as_no_value(
    server: SimServer, ports: dict[str, int]
) -> None:
    a = await RtdsClient.connect(HOST, ports["a"])
    try:
        # a state never set is 1e8 in the reply; an initial value is served as set
        assert await a.exchange([NO_VALUE, NO_VALUE], 2) == [f32(111.11), NO_VALUE]
        # a command never set reads back 1e8 at GET (the 1e8 the client sent was ignored)
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [NO_VALUE, NO_VALUE]
        await a.exchange([5.5, NO_VALUE], 2)
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [5.5, NO_VALUE]
        await a.exchange([NO_VALUE, -7.25], 2)  # 1e8 leaves the gateway command as it was
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [5.5, -7.25]
        await pscad(HOST, ports["pscad"], "SET", [1.5, 2.5, 3.5])
        assert await a.exchange([NO_VALUE, NO_VALUE], 2) == [1.5, 2.5]
    finally:
        await a.close()


async def test_rst_copies_the_states_into_the_commands(
    server: SimServer, ports: dict[str, int]
) -> None:
    await pscad(HOST, ports["pscad"], "RST", [10.0, 20.0, 30.0])
    assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [10.0, 30.0]
    await pscad(HOST, ports["pscad"], "SET", [11.0, 21.0, 31.0])  # SET leaves commands alone
    assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [10.0, 30.0]
    assert server.stats["pscad"].requests == 4


async def test_cells_are_shared_across_adapters_and_many_clients(
    server: SimServer, ports: dict[str, int]
) -> None:
    clients = [await RtdsClient.connect(HOST, ports[n]) for n in ("a", "a", "b", "b")]
    try:
        await pscad(HOST, ports["pscad"], "SET", [42.0, 1.0, 2.0])
        replies = await asyncio.gather(
            *(c.exchange([NO_VALUE] * (2 if i < 2 else 1), 2 if i < 2 else 1)
              for i, c in enumerate(clients))
        )  # fmt: skip
        assert replies == [[42.0, 1.0], [42.0, 1.0], [42.0], [42.0]]
        await clients[3].exchange([-3.0], 1)  # b's gateway command is a's and PSCAD's
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [-3.0, NO_VALUE]
        assert server.cells.command(("gw", "gateway")) == -3.0
        assert server.stats["a"].open_connections == 2
    finally:
        for client in clients:
            await client.close()


async def test_a_port_without_commands_streams_its_states(
    server: SimServer, ports: dict[str, int]
) -> None:
    await pscad(HOST, ports["pscad"], "SET", [0.0, 9.0, 0.0])
    client = await RtdsClient.connect(HOST, ports["stream"])
    try:
        assert await client.exchange([], 1) == [9.0]
        assert await client.exchange([], 1) == [9.0]
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"PUT\0\0", "unknown verb"),
        (b"SET\0\0" + bytes(8), "short SET payload: 8 of 24 bytes"),
        (b"RST\0\0" + bytes(32), "RST payload of 32 bytes; expected 24"),
        (b"GE", "short header"),
    ],
)
async def test_a_bad_request_is_logged_counted_and_closed(
    data: bytes,
    rule: str,
    server: SimServer,
    ports: dict[str, int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await pscad(HOST, ports["pscad"], "SET", [1.0, 2.0, 3.0])
    with caplog.at_level(logging.WARNING, logger="hil.server"):
        assert await send_raw(HOST, ports["pscad"], data) == b""
        await until(lambda: server.stats["pscad"].bad_requests == 1)
    assert any(rule in r.getMessage() for r in caplog.records), caplog.text
    assert server.cells.read_states([("gw", "gateway"), ("pv", "generation")]) == [1.0, 2.0]
    assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [NO_VALUE, NO_VALUE]


async def test_a_request_never_finished_times_out(server: SimServer, ports: dict[str, int]) -> None:
    reader, writer = await asyncio.open_connection(HOST, ports["pscad"])
    try:
        writer.write(b"SET\0\0" + bytes(4))  # and then nothing (request_timeout_ms = 500)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert server.stats["pscad"].bad_requests == 1
    finally:
        writer.close()
        await writer.wait_closed()


async def test_connect_and_leave_are_logged(
    server: SimServer, ports: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hil.server"):
        client = await RtdsClient.connect(HOST, ports["b"])
        await client.exchange([NO_VALUE], 1)
        await client.close()
        await until(lambda: server.stats["b"].open_connections == 0)
    messages = [r.getMessage() for r in caplog.records]
    assert any("adapter b: controller 127.0.0.1:" in m and "connected" in m for m in messages)
    assert any("adapter b: controller" in m and "left" in m and "1 packet" in m for m in messages)


async def test_the_command_serves_the_protocols_and_idles(
    tmp_path: Path, ports: dict[str, int], processes: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "simserver.toml"
    path.write_text(config_text(ports), encoding="utf-8")
    proc = simserver_process(path)
    processes.append(proc)
    deadline = time.monotonic() + 20
    while True:  # listening once PSCAD's port answers
        assert proc.poll() is None, proc.communicate()
        try:
            await pscad(HOST, ports["pscad"], "RST", [4.0, 5.0, 6.0])
            break
        except OSError:
            assert time.monotonic() < deadline, "dgi simserver did not listen within 20 s"
            await asyncio.sleep(0.1)
    a = await RtdsClient.connect(HOST, ports["a"])
    try:
        assert await a.exchange([NO_VALUE, 8.0], 2) == [4.0, 5.0]
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [4.0, 8.0]
    finally:
        await a.close()
    await asyncio.sleep(0.5)
    idle = await cpu_during(proc.pid, 2)
    assert idle < 0.1, f"{idle:.2f} s of CPU in 2 s idle"
    out, err = terminated(proc)
    assert "4 adapter(s)" in out
    assert "controller 127.0.0.1:" in err
    assert "connected" in err
    assert "left" in err


async def test_port_0_takes_a_free_port_and_huge_states_become_infinities() -> None:
    text = config_text({"a": 0, "b": 0, "stream": 0, "pscad": 0})
    sim = SimServer(check_document(tomllib.loads(text), text, "t.toml"))
    await sim.start()
    try:
        pscad_at, a_at = sim.address("pscad"), sim.address("a")
        assert pscad_at[1] != 0
        await pscad(*pscad_at, "SET", [1e300, -2.0, 0.0])  # beyond float32: +inf, as in C
        client = await RtdsClient.connect(*a_at)
        try:
            assert await client.exchange([NO_VALUE, NO_VALUE], 2) == [math.inf, -2.0]
        finally:
            await client.close()
    finally:
        await sim.stop()
