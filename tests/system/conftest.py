"""A running ``dgi demo`` (simulator and three nodes with their APIs) on free ports."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from config.loader import load_site
from config.site import Site
from tests.conftest import ROOT, copy_site
from tests.helpers import add_devices, fake_meter


@dataclass
class Demo:
    site_path: Path
    site: Site
    process: subprocess.Popen[bytes]

    def url(self, node: str, path: str = "") -> str:
        return f"http://{self.site.node(node).api}{path}"


@pytest.fixture
def demo(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> Demo:
    """Stopped by the ``processes`` fixture."""
    return run_demo(tmp_path, processes)


@pytest.fixture
def metered_demo(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> Demo:
    """The demo with a grid meter at sst2 (a fake Meter: a sagging bus, lines at 61.5 %)."""
    meter = fake_meter(
        "sst2-meter", voltage=0.932, loading=61.5, trafo_loading=47.0, grid_import=12.25
    )
    return run_demo(tmp_path, processes, edit=lambda text: add_devices(text, "sst2", meter))


def run_demo(
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
    edit: Callable[[str], str] | None = None,
    *,
    example: str = "three-substations.toml",
    args: tuple[str, ...] = (),
) -> Demo:
    """``dgi demo`` of ``example`` (its site file changed by ``edit``; more ``args``), every
    node ready."""
    site_path = copy_site(example, tmp_path)
    if edit is not None:
        site_path.write_text(edit(site_path.read_text()))
    log = (tmp_path / "demo.log").open("wb")
    command = [
        sys.executable,
        "-m",
        "controller",
        "demo",
        "--config",
        str(site_path),
        "--duration",
        "600",
        *args,
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    processes.append(process)
    running = Demo(site_path, load_site(site_path), process)
    deadline = time.monotonic() + 60
    for node in ("sst1", "sst2", "sst3"):
        while True:
            assert process.poll() is None, (tmp_path / "demo.log").read_text()
            try:
                if httpx.get(running.url(node, "/readyz"), timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (
                f"{node} not ready: {(tmp_path / 'demo.log').read_text()}"
            )
            time.sleep(0.2)
    return running
