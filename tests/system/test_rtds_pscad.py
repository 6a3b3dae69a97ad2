"""Three ``dgi run`` nodes over FREEDM's RTDS adapter protocol behind ``dgi simserver``, with
PSCAD's side played by a client written from the protocol (tests/pscad_client.py): each step it
GETs the nodes' commands and SETs the states — an SST's gateway follows its command, as the
plant would. The nodes balance the site (FREEDM's 2012 HIL script: gateways −20, 10, −20, net
generation −10 each), judged by what PSCAD reads back, never by the nodes; the server killed and
started again does not stop the nodes, which reconnect and go on."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, free_port
from tests.pscad_client import NO_VALUE, pscad

DGI = [sys.executable, "-m", "controller"]
NODES = ("sst1", "sst2", "sst3")
pytestmark = pytest.mark.timeout(180)


def free_copies(directory: Path) -> tuple[Path, Path]:
    """The simulation server's and the site's example files, every port moved to a free one
    (the same port in both files moves to the same free port)."""
    texts = {n: (EXAMPLES / n).read_text() for n in ("simserver.toml", "rtds-pscad.toml")}
    ports: dict[str, str] = {}

    def moved(match: re.Match[str]) -> str:
        old = match.group(2)
        ports.setdefault(old, str(free_port()))
        return match.group(1) + ports[old]

    paths = []
    for name, text in texts.items():
        text = re.sub(r"(?m)^(port\s*=\s*)(\d+)", moved, text)
        text = re.sub(r'("127\.0\.0\.1:)(\d+)', moved, text)
        path = directory / name
        path.write_text(text)
        paths.append(path)
    subprocess.run([*DGI, "keygen", str(directory / "group.key")], check=True, cwd=ROOT,
                   capture_output=True)  # fmt: skip
    return paths[0], paths[1]


class Pscad:
    """PSCAD's side: the simulation port's tables, a plant in which each SST's gateway follows
    its command (the rest constant), one SET after each GET."""

    def __init__(self, server: Path) -> None:
        config = tomllib.loads(server.read_text())
        port = next(a for a in config["adapters"] if a["type"] == "simulation")
        self.port = port["port"]
        self.states = [(e["device"], e["signal"]) for e in port["states"]]
        self.commands = [(e["device"], e["signal"]) for e in port["commands"]]
        initial = {}
        for adapter in config["adapters"]:
            for e in adapter["states"]:
                if "value" in e:
                    initial[(e["device"], e["signal"])] = float(e["value"])
        self.values = [initial.get(key, 0.0) for key in self.states]
        self.last: dict[tuple[str, str], float] = {}

    async def step(self) -> None:
        got = await pscad("127.0.0.1", self.port, "GET", n_commands=len(self.commands))
        self.last = {key: v for key, v in zip(self.commands, got, strict=True) if v != NO_VALUE}
        for n, (device, sig) in enumerate(self.states):
            if sig == "gateway" and (device, "gateway") in self.last:
                self.values[n] = self.last[(device, "gateway")]
        await pscad("127.0.0.1", self.port, "SET", self.values)

    def gateways(self) -> dict[str, float]:
        return {d.split("-")[0]: v for (d, s), v in self.last.items() if s == "gateway"}


async def run_until(plant: Pscad, done: Callable[[], bool], within_s: float, what: str) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):  # the server is down: PSCAD would retry too
            await plant.step()
        if done():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"{what} within {within_s} s: PSCAD reads {plant.last}")


async def test_three_nodes_over_rtds_balance_behind_the_simulation_server(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    server, site = free_copies(tmp_path)
    logs = {name: (tmp_path / f"{name}.log").open("ab") for name in ("server", *NODES)}

    def start_server() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([*DGI, "simserver", "--config", str(server)], cwd=ROOT,
                                   stdout=logs["server"], stderr=subprocess.STDOUT)  # fmt: skip
        processes.append(process)
        return process

    simserver = start_server()
    plant = Pscad(server)
    await run_until(plant, lambda: True, 10, "the simulation port answering")
    for node in NODES:
        processes.append(subprocess.Popen(
            [*DGI, "run", "--config", str(site), "--node", node], cwd=ROOT,
            stdout=logs[node], stderr=subprocess.STDOUT,
        ))  # fmt: skip

    def balanced() -> bool:
        g = plant.gateways()
        return len(g) == 3 and all(abs(v + 10.0) <= 0.2 for v in g.values())

    await run_until(plant, balanced, 60, "the gateways PSCAD reads at −10 kW each")
    assert sum(plant.gateways().values()) == pytest.approx(-30.0, abs=0.3)  # moved, not made

    simserver.send_signal(signal.SIGKILL)  # the server's host loses power
    simserver.wait(10)
    await asyncio.sleep(3.0)
    for process in processes[1:]:
        assert process.poll() is None, "a node stopped with its simulation server"
    start_server()
    plant.last = {}
    await run_until(plant, balanced, 30, "the nodes' commands back after the restart")
    log = (tmp_path / "sst1.log").read_text()
    assert "reconnecting" in log
    assert log.count("connected, packets complete") >= 2
