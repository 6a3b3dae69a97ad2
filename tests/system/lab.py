"""A site run as a lab runs it: ``dgi simulate`` and one ``dgi run`` per node, each its own
process, on free ports; faults through ``dgi fault``, verdicts through ``dgi audit`` — and the
devices read independently over Modbus, never through the nodes' bookkeeping."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from config.loader import load_site
from config.site import OCPP, Site
from device_drivers.base import DeviceDriver
from device_drivers.errors import DriverError
from device_drivers.modbus import LinkPool
from device_drivers.registry import Connections, build_driver
from tests.conftest import ROOT, copy_site, free_port
from tests.helpers import until

__all__ = ["DGI", "Lab", "Observer", "dgi", "until"]

DGI = [sys.executable, "-m", "controller"]


def dgi(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One ``dgi`` command as a process."""
    return subprocess.run([*DGI, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


class Observer:
    """Reads a site's devices through their Modbus servers, as any Modbus client would (an
    OCPP charge point connects to its node only: it is not read here)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.pool = LinkPool()
        self.drivers: dict[str, DeviceDriver] = {
            d.id: build_driver(d, Connections(self.pool))
            for d in site.devices
            if d.entry.transport != OCPP
        }

    async def read(self, *device_ids: str) -> None:
        chosen = [self.drivers[d] for d in device_ids] if device_ids else self.drivers.values()
        await asyncio.gather(*(d.read_all() for d in chosen))

    async def figures(self) -> dict[str, dict[str, float]]:
        """Per node: measured gateway, held PStar, net generation."""
        await self.read()
        out = {}
        for node in self.site.nodes:
            n = node.id
            gateway = self.drivers[f"{n}-gateway"]
            generation = self.drivers[f"{n}-pv"].state("generation") or 0.0
            storage = self.drivers[f"{n}-storage"].state("storage") or 0.0
            drain = self.drivers[f"{n}-load"].state("drain") or 0.0
            out[n] = {
                "gateway": gateway.state("gateway") or 0.0,
                "pstar": gateway.values["pstar"].value or 0.0,
                "net_generation": generation + storage - drain,
            }
        return out

    async def write(self, device_id: str, point: str, value: float) -> None:
        """Write a register the simulator lets a lab change (a load, the PV)."""
        for attempt in range(20):
            try:
                await self.drivers[device_id].write(point, value)
                return
            except DriverError:
                if attempt == 19:
                    raise
                await asyncio.sleep(0.1)

    async def close(self) -> None:
        for driver in self.drivers.values():
            await driver.close()
        self.pool.close()


@dataclass
class Lab:
    """The processes of one site and the ways to look at and break it."""

    directory: Path
    path: Path
    site: Site
    control: str
    started: list[subprocess.Popen[bytes]]
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    simulator: subprocess.Popen[bytes] | None = None

    @classmethod
    def create(
        cls,
        directory: Path,
        started: list[subprocess.Popen[bytes]],
        *,
        edit: Callable[[str], str] = lambda text: text,
        example: str = "three-substations.toml",
    ) -> Lab:
        path = copy_site(example, directory)
        path.write_text(edit(path.read_text()))
        assert dgi("keygen", str(directory / "group.key")).returncode == 0
        assert dgi("api-token", str(directory / "api.token")).returncode == 0
        (directory / "logs").mkdir(exist_ok=True)
        control = f"127.0.0.1:{free_port()}"
        return cls(directory, path, load_site(path), control, started)

    def _spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.directory / "logs" / f"{name}.log").open("ab")
        process = subprocess.Popen([*DGI, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.started.append(process)
        return process

    def start_simulator(self) -> None:
        endpoints = self.directory / "endpoints.json"
        endpoints.unlink(missing_ok=True)
        self.simulator = self._spawn(
            "simulate", "simulate", "--config", str(self.path), "--control", self.control,
            "--endpoints", str(endpoints),
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while not endpoints.exists():
            assert self.simulator.poll() is None, self.log("simulate")
            assert time.monotonic() < deadline, "the simulator did not start"
            time.sleep(0.05)

    def kill_simulator(self) -> None:
        """SIGKILL: no clean shutdown, as when a lab's simulator host loses power."""
        assert self.simulator is not None
        self.simulator.send_signal(signal.SIGKILL)
        self.simulator.wait(10)

    def start_node(
        self, node: str, path: Path | None = None, name: str | None = None, *, hold: bool = True
    ) -> None:
        """``dgi run`` of ``node``; ``hold``: with ``--hold-on-exit`` (no failsafe at its end)."""
        self.nodes[name or node] = self._spawn(
            name or node, "run", "--config", str(path or self.path), "--node", node,
            *(["--hold-on-exit"] if hold else []),
        )  # fmt: skip

    def stop_node(self, name: str) -> None:
        process = self.nodes.pop(name)
        process.terminate()
        process.wait(10)

    def kill_node(self, name: str) -> None:
        """SIGKILL: no failsafe write, no goodbye (its API process ends with its link)."""
        process = self.nodes.pop(name)
        process.kill()
        process.wait(10)

    def fault(self, device: str, *settings: str) -> dict[str, Any]:
        result = dgi("fault", "--control", self.control, device, *settings)
        assert result.returncode == 0, result.stdout + result.stderr
        answer: dict[str, Any] = json.loads(result.stdout)
        return answer

    def audit(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return dgi("audit", "--config", str(self.path), *args, timeout=timeout)

    def api(self, node: str, path: str) -> Any:
        return httpx.get(f"http://{self.site.node(node).api}{path}", timeout=5).json()

    def put(self, node: str, path: str, body: dict[str, Any]) -> Any:
        """A write, with the site's token."""
        token = (self.directory / "api.token").read_text().strip()
        url = f"http://{self.site.node(node).api}{path}"
        auth = {"Authorization": f"Bearer {token}"}
        answer = httpx.put(url, json=body, headers=auth, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ready(self, node: str) -> tuple[bool, list[str]]:
        answer = httpx.get(f"http://{self.site.node(node).api}/readyz", timeout=5)
        return answer.status_code == 200, answer.json()["reasons"]

    def log(self, name: str) -> str:
        return (self.directory / "logs" / f"{name}.log").read_text(errors="replace")[-4000:]

    def alive(self) -> None:
        for name, process in self.nodes.items():
            assert process.poll() is None, f"{name} died: {self.log(name)}"
