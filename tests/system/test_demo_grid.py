"""``dgi demo --plant pandapower``: the demo's three substations on the CIGRE MV feeder. Each
node reads its grid meter (the power flow's voltage and loading at its bus) over Modbus and
shows it at ``/metrics``, in its status and on its page (headless Chromium)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx

from tests.browser import Chromium
from tests.conftest import require_tool
from tests.system.conftest import run_demo

NODES = ("sst1", "sst2", "sst3")


def sample(text: str, metric: str) -> float | None:
    for line in text.splitlines():
        if line.startswith(metric + " ") or line.startswith(metric + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_the_demo_on_the_grid_shows_voltage_and_loading_per_substation(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    demo = run_demo(tmp_path, processes, example="demo-grid.toml", args=("--plant", "pandapower"))
    voltages = {}
    for node in NODES:
        text = httpx.get(demo.url(node, "/metrics"), timeout=5).text
        voltage = sample(text, "dgi_bus_voltage_pu")
        loading = sample(text, "dgi_line_loading_percent")
        assert voltage is not None, node
        assert 0.9 < voltage < 1.1, (node, voltage)
        assert loading is not None, node
        assert 0.0 <= loading < 200.0, (node, loading)
        assert sample(text, "dgi_trafo_loading_percent") is not None
        assert sample(text, "dgi_grid_import_kw") is not None
        grid = httpx.get(demo.url(node, "/api/v1/status"), timeout=5).json()["grid"]
        assert grid["meter"] == f"{node}-meter"
        assert grid["fresh"]
        voltages[node] = voltage
    assert len(set(voltages.values())) == 3  # three buses of the feeder, three voltages
    with Chromium(require_tool("chromium"), tmp_path / "profile") as browser:
        browser.open(demo.url("sst2", "/"))
        browser.wait_for("document.title === 'DGI sst2'")
        browser.wait_for("document.getElementById('grid-voltage').textContent !== '—'")
        shown = browser.evaluate(
            "['meter', 'voltage', 'loading'].map(k =>"
            " document.getElementById('grid-' + k).textContent).join('|')"
        )
    meter, voltage_text, loading_text = shown.split("|")
    assert meter == "meter sst2-meter"
    assert re.fullmatch(r"\d\.\d{3} pu", voltage_text), voltage_text
    assert re.fullmatch(r"\d+\.\d %", loading_text), loading_text
