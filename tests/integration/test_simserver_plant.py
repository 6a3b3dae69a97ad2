"""``dgi simserver`` beyond the original: the built-in ``[plant]`` moving the cells, and
``[[modbus]]`` exposures read and written by mbpoll (libmodbus, a client this project did not
write) and by this project's Modbus driver, crossed with PSCAD's SET and GET and an rtds
controller (tests/pscad_client.py). Real sockets on 127.0.0.1, one test with the command as a
process."""

from __future__ import annotations

import asyncio
import logging
import re
import subprocess
import time
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from config.loader import PROFILE_DIR
from config.profile import load_profile
from config.site import Device, DeviceEntry
from device_drivers.errors import DeviceValueError
from device_drivers.registry import Connections, build_driver
from hil.config import check_document
from hil.server import SimServer
from tests import helpers
from tests.conftest import free_port
from tests.helpers import cpu_during, run_mbpoll, simserver_process, terminated
from tests.helpers import mbpoll_values as values
from tests.pscad_client import NO_VALUE, RtdsClient, pscad

HOST = "127.0.0.1"


def entry(table: str, index: int, device: str, kind: str, signal: str) -> str:
    return (
        f'[[adapters.{table}]]\nindex = {index}\ndevice = "{device}"\ntype = "{kind}"\n'
        f'signal = "{signal}"\n'
    )


def config_text(ports: dict[str, int], *, plant: bool) -> str:
    """Node "a" (rtds): reads gateway, soc, frequency, pv; commands gateway and storage.
    PSCAD: sets pv, and without the plant the gateway and the soc too; gets the two commands.
    gw and bat are served over Modbus on one port (units 1 and 2). The plant runs gw, bat and
    om and leaves pv to PSCAD."""
    pscad_states = [entry("states", 1, "pv", "Drer", "generation")]
    if not plant:
        pscad_states += [
            entry("states", 2, "gw", "Sst", "gateway"),
            entry("states", 3, "bat", "Desd", "soc"),
        ]
    parts = [
        f'[[adapters]]\nname = "a"\ntype = "rtds"\nport = {ports["a"]}\n',
        entry("states", 1, "gw", "Sst", "gateway"),
        entry("states", 2, "bat", "Desd", "soc"),
        entry("states", 3, "om", "Omega", "frequency"),
        entry("states", 4, "pv", "Drer", "generation"),
        entry("commands", 1, "gw", "Sst", "gateway"),
        entry("commands", 2, "bat", "Desd", "storage"),
        f'[[adapters]]\nname = "pscad"\ntype = "simulation"\nport = {ports["pscad"]}\n',
        *pscad_states,
        entry("commands", 1, "gw", "Sst", "gateway"),
        entry("commands", 2, "bat", "Desd", "storage"),
        f'[[modbus]]\ndevice = "gw"\nprofile = "sst"\nport = {ports["modbus"]}\n',
        f'[[modbus]]\ndevice = "bat"\nprofile = "desd"\nport = {ports["modbus"]}\nunit = 2\n',
    ]
    if plant:
        parts.append(
            '[plant]\ntick_s = 0.05\nexclude = ["pv"]\n\n'
            "[plant.devices.gw]\nsim = { initial_kw = -20.0, lag_s = 0.2 }\n\n"
            "[plant.devices.bat]\nsim = { capacity_kwh = 1.0, soc = 60.0 }\n"
        )
    return "\n".join(parts)


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in ("a", "pscad", "modbus")}


async def started(text: str) -> SimServer:
    server = SimServer(check_document(tomllib.loads(text), text, "t.toml"))
    await server.start()
    return server


@pytest.fixture
async def plain(ports: dict[str, int]) -> AsyncIterator[SimServer]:
    server = await started(config_text(ports, plant=False))
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def planted(ports: dict[str, int]) -> AsyncIterator[SimServer]:
    server = await started(config_text(ports, plant=True))
    try:
        yield server
    finally:
        await server.stop()


async def until(condition: Callable[[], object]) -> None:
    await helpers.until(condition, 5, "the plant to follow", every_s=0.02)


# -- the built-in plant ---------------------------------------------------------------------------


async def test_a_controller_s_gateway_command_moves_the_plant(
    planted: SimServer, ports: dict[str, int]
) -> None:
    a = await RtdsClient.connect(HOST, ports["a"])
    try:
        gateway, soc, frequency, pv = await a.exchange([NO_VALUE, NO_VALUE], 4)
        assert gateway == -20.0  # the sim table's initial_kw, before any command
        assert soc == 60.0
        assert frequency == pytest.approx(376.8 + 0.05 * -20.0, abs=1e-3)
        assert pv == NO_VALUE  # excluded: PSCAD's, and PSCAD has not set it
        await a.exchange([15.0, 30.0], 4)  # PStar 15 kW; discharge 30 kW
        await until(lambda: planted.cells.state(("gw", "gateway")) > 14.9)  # lag_s 0.2
        gateway, soc, frequency, _ = await a.exchange([NO_VALUE, NO_VALUE], 4)
        assert gateway == pytest.approx(15.0, abs=0.1)
        assert frequency == pytest.approx(376.8 + 0.05 * 15.0, abs=0.01)
        assert soc < 60.0  # a 1 kWh battery at 30 kW loses ~0.8 %/s
        assert planted.cells.state(("bat", "storage")) == 30.0  # a state no adapter carries
        # PSCAD still gets the controllers' commands and sets what the plant leaves alone
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [15.0, 30.0]
        await pscad(HOST, ports["pscad"], "SET", [4.5])
        assert (await a.exchange([NO_VALUE, NO_VALUE], 4))[3] == 4.5
    finally:
        await a.close()
    assert planted.plant is not None
    assert planted.plant.ticks > 0


async def test_a_modbus_write_drives_the_plant(planted: SimServer, ports: dict[str, int]) -> None:
    pool = Connections()
    gw = build_driver(exposed("gw", "sst", planted), pool, address=planted.modbus_address("gw"))
    try:
        await gw.command("gateway", 5.0)  # from -20 kW, with a 0.2 s lag
        await until(lambda: planted.cells.state(("gw", "gateway")) > 4.9)
        await gw.read_all()
        assert gw.state("gateway") == pytest.approx(5.0, abs=0.1)
        assert gw.values["pstar"].value == 5.0
    finally:
        await gw.close()
        pool.close()


# -- cells as Modbus devices ----------------------------------------------------------------------


async def mbpoll(port: int, unit: int, *args: str, write: str | None = None) -> tuple[int, str]:
    return await run_mbpoll(HOST, port, *args, unit=unit, write=write)


async def test_mbpoll_reads_what_pscad_set_and_pscad_gets_what_mbpoll_wrote(
    plain: SimServer, ports: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    float_regs = ("-t", "4:float", "-B")
    # cells never written read as no value: raw 1e8 in a float register
    rc, out = await mbpoll(ports["modbus"], 1, "-r", "0", "-c", "2", *float_regs)
    assert rc == 0, out
    assert values(out) == {0: NO_VALUE, 2: NO_VALUE}
    await pscad(HOST, ports["pscad"], "SET", [1.0, 12.5, 50.0])  # pv, gateway, soc
    with caplog.at_level(logging.INFO, logger="simulators.fault_front"):
        rc, out = await mbpoll(ports["modbus"], 1, "-r", "2", *float_regs, write="-7.25")
        assert rc == 0, out
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [-7.25, NO_VALUE]
        rc, out = await mbpoll(ports["modbus"], 1, "-r", "0", "-c", "2", *float_regs)
    assert rc == 0, out
    assert values(out) == {0: 12.5, 2: -7.25}
    messages = [r.getMessage() for r in caplog.records]
    assert any(re.match(r"modbus gw, bat: Modbus client 127\.0\.0\.1:\d+ connected", m)
               for m in messages), messages  # fmt: skip
    assert any("left after 1 request(s)" in m for m in messages), messages
    # unit 2 on the same port is the battery; its setpoint limit (-50..50) holds
    rc, out = await mbpoll(ports["modbus"], 2, "-r", "2", *float_regs, write="80")
    assert rc != 0, out
    assert plain.cells.command(("bat", "storage")) == NO_VALUE
    rc, out = await mbpoll(ports["modbus"], 2, "-r", "2", *float_regs, write="-20")
    assert rc == 0, out
    assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [-7.25, -20.0]


async def test_a_pscad_set_reaches_modbus_and_a_driver_write_reaches_pscad(
    plain: SimServer, ports: dict[str, int]
) -> None:
    pool = Connections()
    where = plain.modbus_address("gw")
    gw = build_driver(exposed("gw", "sst", plain), pool, address=where)
    bat = build_driver(exposed("bat", "desd", plain), pool, address=where)
    try:
        await pscad(HOST, ports["pscad"], "RST", [3.0, -4.0, 55.5])  # pv, gateway, soc
        reading = await gw.read_all()
        assert reading.values["gateway"].value == -4.0
        assert reading.values["pstar"].value == -4.0  # RST copied the state into the command
        await gw.command("gateway", 9.0)
        await bat.command("storage", 12.0)
        assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [9.0, 12.0]
        a = await RtdsClient.connect(HOST, ports["a"])
        try:  # the rtds node sees PSCAD's states; its command is the driver's
            assert await a.exchange([NO_VALUE, NO_VALUE], 4) == [-4.0, 55.5, NO_VALUE, 3.0]
            await a.exchange([NO_VALUE, -2.0], 4)
        finally:
            await a.close()
        # the battery's storage, soc_min and soc_max have no value (no cell, no plant): the
        # driver reads that as a device not measuring yet, as the rtds driver does
        with pytest.raises(DeviceValueError, match="storage reports no value"):
            await bat.read_all()
        assert bat.is_stale()
        await gw.read_all()
        assert gw.values["pstar"].value == 9.0
        assert plain.cells.command(("bat", "storage")) == -2.0
    finally:
        await gw.close()
        await bat.close()
        pool.close()


async def test_profile_states_without_a_cell_are_named_at_start(
    ports: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    for plant in (False, True):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="hil.server"):
            server = await started(config_text(ports, plant=plant))
            await server.stop()
        warned = [r.getMessage() for r in caplog.records]
        if plant:  # the plant's battery model has every state of the profile
            assert warned == []
        else:
            assert warned == [
                "modbus bat: storage, soc_min, soc_max of profile desd-storage-v1 in no state "
                "cell: always no value (1e8)"
            ]


def exposed(device: str, profile: str, server: SimServer) -> Device:
    """A node's view of an exposed device: transport modbus_tcp, at its unit."""
    loaded, issues = load_profile(PROFILE_DIR / f"{profile}.toml")
    assert loaded is not None, issues
    unit = next(m.unit for m in server.config.modbus if m.device == device)
    kind = loaded.device_type
    entry = DeviceEntry(id=device, type=kind, transport="modbus_tcp", profile=profile, unit=unit)
    return Device("n1", entry, loaded, None)


# -- the command ----------------------------------------------------------------------------------


async def test_the_command_runs_the_plant_behind_modbus(
    tmp_path: Path, ports: dict[str, int], processes: list[subprocess.Popen[str]]
) -> None:
    path = tmp_path / "simserver.toml"
    path.write_text(config_text(ports, plant=True), encoding="utf-8")
    proc = simserver_process(path)
    processes.append(proc)
    deadline = time.monotonic() + 20
    while True:  # up once the Modbus port answers
        assert proc.poll() is None, proc.communicate()
        rc, out = await mbpoll(ports["modbus"], 1, "-r", "0", "-t", "4:float", "-B")
        if rc == 0:
            break
        assert time.monotonic() < deadline, f"dgi simserver did not serve within 20 s: {out}"
        await asyncio.sleep(0.2)
    assert values(out) == {0: -20.0}
    rc, out = await mbpoll(ports["modbus"], 1, "-r", "2", "-t", "4:float", "-B", write="25")
    assert rc == 0, out
    await asyncio.sleep(1.5)  # lag_s 0.2
    rc, out = await mbpoll(ports["modbus"], 1, "-r", "0", "-c", "2", "-t", "4:float", "-B")
    assert rc == 0, out
    assert values(out)[0] == pytest.approx(25.0, abs=0.1)
    assert await pscad(HOST, ports["pscad"], "GET", n_commands=2) == [25.0, NO_VALUE]
    busy = await cpu_during(proc.pid, 2)
    assert busy < 0.3, f"{busy:.2f} s of CPU in 2 s with a plant ticking every 50 ms"
    out, err = terminated(proc)
    assert "plant: 3 device(s), a step every 0.05 s" in out
    assert re.search(r"gw +modbus +127\.0\.0\.1:\d+ +unit 1, profile sst-gateway-v1", out), out
    assert "Modbus client 127.0.0.1:" in err, err
