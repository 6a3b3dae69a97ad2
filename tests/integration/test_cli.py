"""The ``dgi`` command line as a real process: check-config, simulate, demo."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config.loader import load_site
from device_drivers.modbus import LinkPool
from device_drivers.ocpp import CentralSystems
from device_drivers.registry import Connections, build_driver
from tests.conftest import EXAMPLE_NAMES, ROOT, SIMULATED_EXAMPLES, copy_site
from tests.helpers import read_until_fresh

DGI = [sys.executable, "-m", "controller"]


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DGI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            pytest.fail(f"process exited early: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


@pytest.mark.parametrize("example", EXAMPLE_NAMES)
def test_check_config_on_the_examples_exits_0(example: str) -> None:
    result = run("check-config", f"config/examples/{example}")
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout


def test_check_config_lists_errors_on_stderr_and_exits_1(tmp_path: Path) -> None:
    site = copy_site("single-node.toml", tmp_path)
    text = re.sub(r"(?m)^port = ", "port = 9", site.read_text(), count=1)
    site.write_text(text.replace('type = "Drer"', 'type = "PV"'))
    result = run("check-config", str(site))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert any("nodes[0].devices[0].port" in line and "must be 0..65535" in line for line in lines)
    assert any("nodes[0].devices[2].type = 'PV': unknown device type" in line for line in lines)


def simulate(site_path: Path, processes: list[subprocess.Popen[str]]) -> subprocess.Popen[str]:
    """``dgi simulate`` of a site, once it listens (its endpoints file next to the site)."""
    endpoints = site_path.parent / "endpoints.json"
    proc = subprocess.Popen(
        [*DGI, "simulate", "--config", str(site_path), "--endpoints", str(endpoints)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )  # fmt: skip
    processes.append(proc)
    wait_for(endpoints, proc)
    return proc


@pytest.mark.parametrize("example", SIMULATED_EXAMPLES)
async def test_simulate_serves_every_device_of_the_example(
    example: str, tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    site_path = copy_site(example, tmp_path)
    proc = simulate(site_path, processes)
    rows = json.loads((tmp_path / "endpoints.json").read_text())
    site = load_site(site_path)
    assert {row["device"] for row in rows} == {d.id for d in site.devices}
    pool, central = LinkPool(), CentralSystems()  # as a node: its charge points connect here
    drivers = [build_driver(device, Connections(pool, central)) for device in site.devices]
    await central.start()
    try:
        for driver in drivers:
            await read_until_fresh(driver, attempts=200)  # a charge point connects first
            reading = await driver.read_all()
            assert reading.values, driver.device_id
    finally:
        for driver in drivers:
            await driver.close()
        await central.close()
        pool.close()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    for device in site.devices:
        assert f"{device.id} " in out
        assert f"127.0.0.1:{device.entry.port}" in out


def test_simulate_refuses_a_busy_port(tmp_path: Path) -> None:
    site_path = copy_site("single-node.toml", tmp_path)
    port = load_site(site_path).devices[0].entry.port
    assert port is not None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        result = run("simulate", "--config", str(site_path), "--duration", "1")
    assert result.returncode == 1
    assert f"cannot serve sst1-gateway on 127.0.0.1:{port}" in result.stdout


def test_devices_prints_the_device_table(tmp_path: Path) -> None:
    site_path = copy_site("three-substations.toml", tmp_path)
    result = run("devices", "--config", str(site_path), "--duration", "1.5")
    assert result.returncode == 0, result.stderr
    for node in ("sst1", "sst2", "sst3"):
        assert f"{node}-gateway" in result.stdout
    assert "fresh" in result.stdout
    assert "stale" not in result.stdout
    assert "-20.00 kW" in result.stdout  # sst1's gateway, read back through its driver
    assert "bus slack" in result.stdout


def test_demo_prints_the_urls_of_every_node(tmp_path: Path) -> None:
    site_path = copy_site("three-substations.toml", tmp_path)
    result = run("demo", "--config", str(site_path), "--duration", "2")
    assert result.returncode == 0, result.stderr
    site = load_site(site_path)
    for node in site.nodes:
        base = f"http://{node.api}"
        assert (
            f"{node.id}: page {base}/  API {base}/api/v1/status  docs {base}/docs  "
            f"metrics {base}/metrics" in result.stdout
        )


def test_api_token_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    token = tmp_path / "api.token"
    first = run("api-token", str(token))
    assert first.returncode == 0, first.stderr
    assert token.stat().st_mode & 0o777 == 0o600
    assert len(token.read_text().strip()) >= 32
    before = token.read_text()
    again = run("api-token", str(token))
    assert again.returncode == 1
    assert "exists; not overwritten (--exist-ok keeps it)" in again.stderr
    kept = run("api-token", "--exist-ok", str(token))
    assert kept.returncode == 0
    assert token.read_text() == before


def test_openapi_command_prints_the_committed_document() -> None:
    result = run("openapi")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "docs" / "openapi.json").read_text()


def test_fault_drives_a_running_simulator(
    tmp_path: Path, processes: list[subprocess.Popen[str]]
) -> None:
    """``dgi fault`` against ``dgi simulate``'s control interface, both real processes; the
    site file names the control address."""
    site_path = copy_site("three-substations.toml", tmp_path)
    proc = simulate(site_path, processes)
    site = ("--config", str(site_path))
    answer = run(
        "fault", *site, "sst2-gateway", "latency_ms=20", "jitter_ms=30", "values.gateway=nan"
    )
    assert answer.returncode == 0, answer.stderr
    set_to = json.loads(answer.stdout)["faults"]
    assert (set_to["latency_ms"], set_to["jitter_ms"]) == (20.0, 30.0)
    assert str(set_to["values"]["gateway"]) == "nan"
    shown = json.loads(run("fault", *site, "--show").stdout)["devices"]
    assert shown["sst2-gateway"]["latency_ms"] == 20.0
    assert shown["sst1-gateway"]["latency_ms"] == 0.0
    refused = run("fault", *site, "sst2-gateway", "rate=3")
    assert refused.returncode == 1
    assert "rate: must be 0..1 (a fraction of the requests)" in refused.stdout
    unknown = run("fault", *site, "sst9-gateway", "--restart")
    assert unknown.returncode == 1
    assert "no simulated device 'sst9-gateway'; devices: sst1-gateway" in unknown.stdout
    bad = run("fault", *site, "sst2-gateway", "latency_ms")
    assert bad.returncode == 2
    assert "settings are KEY=VALUE" in bad.stderr
    assert json.loads(run("fault", *site, "sst1-gateway", "--restart").stdout)["ok"]
    stepped = json.loads(run("fault", *site, "sst1-load", "--plant", "drain=30").stdout)
    assert stepped == {"ok": True, "device": "sst1-load", "states": {"drain": 30.0}}
    physics = run("fault", *site, "sst1-gateway", "--plant", "gateway=3")
    assert physics.returncode == 1
    assert "not a state of sst1-gateway a lab can set (Sst: none)" in physics.stdout
    assert "--plant needs STATE=VALUE" in run("fault", *site, "sst1-load", "--plant").stderr
    cleared = json.loads(run("fault", *site, "--clear").stdout)
    assert len(cleared["cleared"]) == 18
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=10)
    gone = run("fault", *site, "--show")
    assert gone.returncode == 1
    assert "cannot reach dgi simulate at 127.0.0.1:" in gone.stderr
