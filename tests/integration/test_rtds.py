"""The rtds transport (device_drivers/rtds.py) against the simulation server (hil/, in this
process, on port 0) and against peers that misbehave: values both ways, 1e8 as "no value", a
server that goes away and comes back, a short read, a peer that never answers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.loader import load_site
from config.site import Site
from device_drivers.errors import DriverError
from device_drivers.registry import Connections, build_driver
from device_drivers.rtds import RtdsDriver, RtdsLinks
from hil.loader import load_simserver_config
from hil.server import SimServer
from tests.conftest import EXAMPLES
from tests.pscad_client import NO_VALUE, pscad


def site_for(tmp_path: Path, ports: dict[str, int]) -> Site:
    """rtds-pscad.toml with each adapter at the given port."""
    text = (EXAMPLES / "rtds-pscad.toml").read_text()
    for name, port in ports.items():
        text = re.sub(rf'(name = "{name}"\nhost = "127.0.0.1"\nport = )\d+', rf"\g<1>{port}", text)
    path = tmp_path / "site.toml"
    path.write_text(text.replace("timeout_ms = 1000.0", "timeout_ms = 300.0"))
    return load_site(path)


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[SimServer]:
    text = (EXAMPLES / "simserver.toml").read_text()
    path = tmp_path / "simserver.toml"
    path.write_text(re.sub(r"(?m)^port = \d+", "port = 0", text))
    sim = SimServer(load_simserver_config(path))
    await sim.start()
    yield sim
    await sim.stop()


async def fresh(driver: RtdsDriver, within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            await driver.read_all()
            return
        except DriverError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_values_both_ways_and_no_value(tmp_path: Path, server: SimServer) -> None:
    site = site_for(tmp_path, {"sst1": server.address("sst1")[1]})
    links = RtdsLinks()
    gateway = build_driver(site.device("sst1-gateway"), Connections(rtds=links))
    logger = build_driver(site.device("sst1-logger"), Connections(rtds=links))
    assert isinstance(gateway, RtdsDriver)
    try:
        await fresh(gateway)
        assert gateway.state("gateway") == -20.0  # the server's initial value
        pscad_port = server.address("pscad")[1]
        await gateway.command("gateway", 7.5)
        commands = await pscad("127.0.0.1", pscad_port, "GET", n_commands=9)
        assert commands[0] == 7.5  # sst1-gateway's command, first in the simulation table
        assert commands[1] == NO_VALUE  # sst1-storage: never commanded
        assert len(links.links) == 1  # the devices of one adapter share one connection
        await logger.command("groupStatus", 3.0)
        assert (await pscad("127.0.0.1", pscad_port, "GET", n_commands=9))[2] == 3.0
    finally:
        await gateway.close()
        await logger.close()


async def test_a_state_never_set_is_no_value(tmp_path: Path) -> None:
    """A state the server holds 1e8 for: the device is not usable, the read says why."""
    text = (EXAMPLES / "simserver.toml").read_text()
    text = re.sub(r"(?m)^port = \d+", "port = 0", text)
    text = text.replace('signal = "frequency"\nvalue = 376.8\n', 'signal = "frequency"\n', 1)
    path = tmp_path / "simserver.toml"
    path.write_text(text)
    sim = SimServer(load_simserver_config(path))
    await sim.start()
    site = site_for(tmp_path, {"sst1": sim.address("sst1")[1]})
    omega = build_driver(site.device("sst1-omega"))
    try:
        with pytest.raises(
            DriverError,
            match=r"sst1-omega rtds sst1 states\[6\] frequency reports no value \(1e8\)",
        ):
            await fresh(omega, within_s=1.0)
        assert omega.is_stale()
    finally:
        await omega.close()
        await sim.stop()


async def test_a_server_that_goes_away_and_comes_back(tmp_path: Path) -> None:
    config_text = re.sub(r"(?m)^port = \d+", "port = 0", (EXAMPLES / "simserver.toml").read_text())
    path = tmp_path / "simserver.toml"
    path.write_text(config_text)
    sim = SimServer(load_simserver_config(path))
    await sim.start()
    port = sim.address("sst1")[1]
    site = site_for(tmp_path, {"sst1": port})
    pv = build_driver(site.device("sst1-pv"))
    try:
        await fresh(pv)
        await sim.stop()
        await asyncio.sleep(0.5)
        with pytest.raises(DriverError):
            await pv.read_all()
        assert pv.is_stale()
        # the same port again (the test's own server, just released by it)
        path.write_text(config_text.replace('name = "sst1"\ntype = "rtds"\nport = 0',
                                            f'name = "sst1"\ntype = "rtds"\nport = {port}'))  # fmt: skip
        again = SimServer(load_simserver_config(path))
        await again.start()
        try:
            await fresh(pv, within_s=8.0)
            assert pv.state("generation") == 10.0
        finally:
            await again.stop()
    finally:
        await pv.close()


async def peer(handler: object) -> asyncio.Server:
    return await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]


async def test_a_short_read_is_an_error_never_a_partial_table(tmp_path: Path) -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readexactly(12)  # the command packet
        writer.write(b"\x00" * 10)  # 2.5 of 6 floats, then close
        await writer.drain()
        writer.close()

    srv = await peer(short)
    site = site_for(tmp_path, {"sst1": srv.sockets[0].getsockname()[1]})
    gateway = build_driver(site.device("sst1-gateway"))
    assert isinstance(gateway, RtdsDriver)
    try:
        with pytest.raises(DriverError):
            await fresh(gateway, within_s=1.0)
        assert gateway.link.state_values is None
        assert "short read: 10 of 24 bytes" in (gateway.link.problem or "")
    finally:
        await gateway.close()
        srv.close()
        await srv.wait_closed()


async def test_a_peer_that_never_answers_times_out_and_the_device_is_stale(
    tmp_path: Path,
) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the commands, answers nothing

    srv = await peer(silent)
    site = site_for(tmp_path, {"sst1": srv.sockets[0].getsockname()[1]})
    load = build_driver(site.device("sst1-load"))
    assert isinstance(load, RtdsDriver)
    try:
        with pytest.raises(DriverError, match="not connected yet"):
            await load.read_all()  # the first read starts the link
        await asyncio.sleep(0.8)  # timeout_ms = 300 in this site
        with pytest.raises(DriverError, match="no answer within 300 ms"):
            await load.read_all()
        assert load.is_stale()
        assert load.link.errors >= 1  # it gave up on that connection and dials again
    finally:
        await load.close()
        srv.close()
        await srv.wait_closed()
