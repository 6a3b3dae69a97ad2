"""A site as a HELICS federation: a real helics_broker and real ``dgi cosim-*`` processes on
127.0.0.1 (the tcp core: one port), each stopped by its own pid, every exit code checked."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.helpers import add_devices, simulated_meter

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
THREE = ROOT / "config/examples/three-substations.toml"
UNTIL = "6"  # virtual s: the example balances within 1 s
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{BIN}:{os.environ['PATH']}"}


def dgi(*args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "controller", *args], stdout=out, stderr=subprocess.STDOUT,
            env=ENV, cwd=ROOT,
        )  # fmt: skip


def broker(
    federates: int,
    tmp_path: Path,
    *options: str,
    name: str = "broker",
    port_option: str = "port",
    core: str = "tcp",
) -> tuple[subprocess.Popen[bytes], int]:
    """A broker on a free port (another port when the chosen one, or with zmq the one after
    it, cannot be bound)."""
    for _ in range(5):
        port = free_port()
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [str(BIN / "helics_broker"), "-t", core, "-f", str(federates), f"--name={name}",
             "--local_interface=127.0.0.1", f"--{port_option}={port}", "--loglevel=warning",
             "--maxcosimduration=90s", *options],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(0.3)
        if process.poll() is None:
            return process, port
        process.wait()
    raise RuntimeError("no port the broker could bind")


def finish(processes: dict[str, subprocess.Popen[bytes]], timeout: float = 90) -> dict[str, int]:
    """Every process's exit code; any still running at the deadline is killed (by its pid)."""
    deadline = time.monotonic() + timeout
    codes: dict[str, int] = {}
    try:
        for name, process in processes.items():
            codes[name] = process.wait(max(0.1, deadline - time.monotonic()))
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return codes


def logs(tmp_path: Path) -> str:
    return "\n".join(f"== {p.name}\n{p.read_text()}" for p in sorted(tmp_path.glob("*.log")))


def metered_on_the_grid(tmp_path: Path) -> Path:
    """three-substations with a grid meter per node, on the pandapower plant."""
    text = THREE.read_text().replace("[simulation]\n", '[simulation]\nplant = "pandapower"\n', 1)
    for node in ("sst1", "sst2", "sst3"):
        text = add_devices(text, node, simulated_meter(f"{node}-meter", free_port()))
    path = tmp_path / "three-on-the-grid.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("hierarchy", "core", "grid"),
    [(False, "tcp", False), (True, "tcp", False), (False, "zmq", False), (False, "tcp", True)],
    ids=["one-broker", "sub-broker", "zmq", "pandapower"],
)
def test_two_node_federates_and_the_plant_balance_the_group(
    tmp_path: Path, hierarchy: bool, core: str, grid: bool
) -> None:
    """Federate b joins a sub-broker of the root in the hierarchical case (as on another
    host: docs/cosim.md); with ``grid`` the plant federate runs the pandapower plant and each
    node has a grid meter, whose power-flow values the plant publishes like any state."""
    site = metered_on_the_grid(tmp_path) if grid else THREE
    brokers: dict[str, subprocess.Popen[bytes]] = {}
    if hierarchy:
        # the root counts every federate of the federation (-f 3), a sub-broker those below
        # it: with -f 2 the root could start with a and b, before the plant had joined
        brokers["root"], port = broker(3, tmp_path, "--subbrokers=1", name="root")
        brokers["sub"], sub_port = broker(
            1, tmp_path, "--broker_address=127.0.0.1", f"--brokerport={port}",
            name="sub", port_option="localport",
        )  # fmt: skip
    else:
        brokers["root"], port = broker(3, tmp_path, core=core)
        sub_port = port
    common = ["--config", str(site), "--until", UNTIL, "--core", core]
    root, sub = ["--broker", f"127.0.0.1:{port}"], ["--broker", f"127.0.0.1:{sub_port}"]
    processes = {
        "plant": dgi("cosim-plant", *common, *root, "--record", str(tmp_path / "plant.json"),
                     log=tmp_path / "plant.log"),
        "a": dgi("cosim-node", *common, *root, "--nodes", "sst1,sst2", "--name", "a",
                 "--record", str(tmp_path / "a.json"), log=tmp_path / "a.log"),
        "b": dgi("cosim-node", *common, *sub, "--nodes", "sst3", "--name", "b",
                 "--record", str(tmp_path / "b.json"), log=tmp_path / "b.log"),
        **brokers,
    }  # fmt: skip
    codes = finish(processes)
    assert codes == dict.fromkeys(processes, 0), logs(tmp_path)

    plant = json.loads((tmp_path / "plant.json").read_text())
    for node, final in plant["final"].items():  # judged from the plant's own values
        assert final["gateway"] == pytest.approx(final["net_generation"], abs=0.06), node
    change = sum(plant["final"][n]["setpoint"] - plant["initial"][n]["setpoint"]
                 for n in plant["final"])  # fmt: skip
    assert change == pytest.approx(0.0, abs=1e-6)
    assert plant["initial"]["sst2"]["gateway"] == 10.0  # it did have to move power

    # what the plant applied is what the nodes published, one step later
    step = 0.01
    published: Counter[tuple[float, str, str, float]] = Counter()
    for name in ("a", "b"):
        record = json.loads((tmp_path / f"{name}.json").read_text())
        assert record["summary"]["datagrams_received"] > 0  # the federates did talk
        for w in record["published"]:
            published[(round(w["time"] + step, 6), w["device"], w["signal"], w["value"])] += 1
    applied = Counter(
        (round(w["time"], 6), w["device"], w["signal"], w["value"]) for w in plant["setpoints"]
    )
    assert applied == published
    assert applied
    if grid:
        voltages = {n: plant["devices"][f"{n}-meter"]["states"]["voltage"] for n in plant["final"]}
        assert all(0.9 < v < 1.1 for v in voltages.values()), voltages
        assert len(set(voltages.values())) == 3  # three buses of the feeder


def test_helics_run_with_a_generated_runner_file(tmp_path: Path) -> None:
    port = free_port()
    runner = tmp_path / "runner.json"
    made = subprocess.run(
        [sys.executable, "-m", "controller", "cosim-runner", "--config", str(THREE),
         "--federates", "2", "--broker-port", str(port), "--until", "3",
         "--dgi", f"{sys.executable} -m controller", "--record-dir", str(tmp_path),
         "-o", str(runner)],
        env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    run = subprocess.run(
        [str(BIN / "helics"), "run", "--path", str(runner)],
        env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=100,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exited with return code" not in run.stdout + run.stderr, logs(tmp_path)
    plant = json.loads((tmp_path / "plant.json").read_text())
    assert plant["summary"]["steps"] == 300
    for final in plant["final"].values():
        assert final["gateway"] == pytest.approx(final["net_generation"], abs=0.06)
    for name in ("nodes1", "nodes2"):
        assert json.loads((tmp_path / f"{name}.json").read_text())["summary"]["steps"] == 300


def test_no_broker_is_exit_1_naming_the_address(tmp_path: Path) -> None:
    port = free_port()
    process = dgi("cosim-node", "--config", str(THREE), "--broker", f"127.0.0.1:{port}",
                  "--all", "--timeout", "2", log=tmp_path / "node.log")  # fmt: skip
    codes = finish({"node": process}, timeout=40)
    text = (tmp_path / "node.log").read_text()
    assert codes == {"node": 1}, text
    assert f"127.0.0.1:{port}" in text
    assert "no HELICS broker" in text


def test_an_unknown_node_is_exit_1_naming_it(tmp_path: Path) -> None:
    process = dgi("cosim-node", "--config", str(THREE), "--broker", "127.0.0.1:1",
                  "--nodes", "sst1,sst9", log=tmp_path / "node.log")  # fmt: skip
    codes = finish({"node": process}, timeout=30)
    text = (tmp_path / "node.log").read_text()
    assert codes == {"node": 1}, text
    assert "sst9" in text
    assert "sst1, sst2, sst3" in text
