"""``dgi simulate --plant pandapower`` as a process: the grid meters read over Modbus by our
driver and by mbpoll, a PStar write that moves the meter's voltage, and a load step the
power flow cannot solve (a plant fault: the meter fails to read) and its recovery."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.loader import load_site
from config.site import Site
from device_drivers.base import DeviceDriver
from device_drivers.errors import DeviceValueError
from device_drivers.registry import build_driver
from tests.conftest import free_port
from tests.helpers import mbpoll_values, read_until_fresh, run_mbpoll, until
from tests.integration.test_cli import DGI, ROOT, run, wait_for


def node(name: str, api: int, peer: int) -> str:
    text = f'[[nodes]]\nid = "{name}"\napi = "127.0.0.1:{api}"\npeer = "127.0.0.1:{peer}"\n'
    for device, kind, profile, sim in (
        ("gateway", "Sst", "sst", "{ initial_kw = 0.0 }"),
        ("load", "Load", "load", "{ drain = 10.0 }"),
        ("meter", "Meter", "meter", None),
    ):
        text += (
            f'\n[[nodes.devices]]\nid = "{name}-{device}"\ntype = "{kind}"\n'
            f'transport = "simulated"\nhost = "127.0.0.1"\nport = {free_port()}\n'
            f'profile = "{profile}"\n' + (f"sim = {sim}\n" if sim else "")
        )
    return text + "\n"


def grid_site(directory: Path) -> Path:
    """Two substations on the CIGRE MV feeders, no [simulation] plant (the option says it)."""
    text = (
        f'[site]\nname = "grid-test"\n\n[simulation]\ncontrol = "127.0.0.1:{free_port()}"\n\n'
        "[grid]\nbuses = { a = 10, b = 14 }\ntick_s = 0.2\n\n"
        + node("a", free_port(), free_port())
        + node("b", free_port(), free_port())
    )
    path = directory / "grid.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Served:
    path: Path
    site: Site
    proc: subprocess.Popen[str]

    def driver(self, device_id: str) -> DeviceDriver:
        return build_driver(self.site.device(device_id))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One `dgi simulate --plant pandapower` for the module (pandapower takes seconds to load)."""
    path = grid_site(tmp_path_factory.mktemp("grid"))
    endpoints = path.parent / "endpoints.json"
    proc = subprocess.Popen(
        [*DGI, "simulate", "-c", str(path), "--plant", "pandapower", "--endpoints", str(endpoints)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    try:
        wait_for(endpoints, proc, timeout=60)
        yield Served(path, load_site(path), proc)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture
async def meter(served: Served) -> AsyncIterator[DeviceDriver]:
    driver = served.driver("a-meter")
    await read_until_fresh(driver)
    yield driver
    await driver.close()


async def test_our_driver_reads_the_meter(served: Served, meter: DeviceDriver) -> None:
    reading = await meter.read_all()
    values = {name: v.value for name, v in reading.values.items()}
    assert 0.9 < values["voltage"] < 1.05  # type: ignore[operator]
    assert values["grid_import"] == pytest.approx(10.0, abs=1e-3)  # its load, gateway 0
    assert 0.0 < values["trafo_loading"] < 100.0  # type: ignore[operator]
    assert 0.0 <= values["loading"] < 100.0  # type: ignore[operator]


@pytest.mark.tool("mbpoll")
async def test_mbpoll_reads_the_meter_at_the_documented_registers(
    served: Served, meter: DeviceDriver
) -> None:
    entry = served.site.device("b-meter").entry
    assert entry.port is not None
    rc, out = await run_mbpoll("127.0.0.1", entry.port, "-t", "3:float", "-B", "-r", "0", "-c", "4")
    assert rc == 0, out
    got = mbpoll_values(out)
    assert set(got) == {0, 2, 4, 6}
    assert 0.9 < got[0] < 1.05  # voltage (pu)
    assert got[6] == pytest.approx(10.0, abs=1e-3)  # grid import (kW)


async def test_a_pstar_write_changes_the_voltage_the_meter_shows(
    served: Served, meter: DeviceDriver
) -> None:
    before = (await meter.read_all()).values["voltage"].value
    assert before is not None
    gateway = served.driver("a-gateway")
    try:
        await gateway.command("gateway", 60.0)  # the SST takes 60 kW more from the feeder
        after = await until(lambda: _lower(meter, before - 0.01), 10, "the voltage to drop")
        await gateway.command("gateway", 0.0)
        await until(lambda: _lower(meter, before + 1e-3, above=before - 1e-3), 10, "recovery")
    finally:
        await gateway.close()
    assert after < before - 0.01


async def _lower(meter: DeviceDriver, below: float, above: float = 0.0) -> float | None:
    value = (await meter.read_all()).values["voltage"].value
    return value if value is not None and above < value < below else None


async def test_a_load_step_the_power_flow_cannot_solve_fails_the_meter_then_recovers(
    served: Served, meter: DeviceDriver
) -> None:
    site = ("--config", str(served.path))
    stepped = run("fault", *site, "b-load", "--plant", "drain=300000", timeout=30)
    assert stepped.returncode == 0, stepped.stderr

    async def fails() -> bool:
        try:
            await meter.read_all()
        except DeviceValueError as exc:
            return "reports no value" in str(exc)
        return False

    await until(fails, 10, "the meter to fail")
    restored = run("fault", *site, "b-load", "--plant", "drain=10", timeout=30)
    assert restored.returncode == 0, restored.stderr
    await until(lambda: _lower(meter, 1.1, above=0.9), 10, "the meter to read again")


def test_the_simple_plant_refuses_meters(served: Served, tmp_path: Path) -> None:
    result = run("simulate", "-c", str(grid_site(tmp_path)), "--duration", "1")
    assert result.returncode == 1
    assert "a-meter, b-meter: a Meter reads the grid's power flow" in result.stdout
    assert "--plant pandapower" in result.stdout


def test_simulate_says_which_plant_and_logs_each_fault_episode_once(served: Served) -> None:
    """Last in the module: it stops the simulator and reads what it printed."""
    served.proc.send_signal(signal.SIGTERM)
    out, err = served.proc.communicate(timeout=10)
    assert served.proc.returncode == 0, err
    assert "pandapower plant: network cigre-mv, kw_scale 20" in out
    assert err.count("power flow did not converge") == 1, err
    assert "converges again after" in err
    rows = json.loads((served.path.parent / "endpoints.json").read_text())
    assert {r["device"] for r in rows} >= {"a-meter", "b-meter"}
