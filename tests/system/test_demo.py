"""``dgi demo`` as a process: the four-substations acceptance run, in both modes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_site


def demo_report(tmp_path: Path, *args: str) -> dict[str, object]:
    site = copy_site("four-substations.toml", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "controller", "demo", "--config", str(site), "--report", "json", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_four_substations_adaptive_acceptance(tmp_path: Path) -> None:
    report = demo_report(tmp_path, "--duration", "10")
    nodes = report["nodes"]
    assert isinstance(nodes, list)
    assert [n["id"] for n in nodes] == ["sst1", "sst2", "sst3", "sst4"]
    for node in nodes:
        assert abs(node["gateway"] - node["net_generation"]) <= 0.05, node
        assert set(node) == {
            "id",
            "state",
            "gateway",
            "net_generation",
            "predicted_gateway",
            "migrations_in",
            "migrations_out",
        }
    assert report["setpoint_sum_change"] == 0.0
    assert report["converged_at_s"] is not None
    assert report["converged_at_s"] <= 1.0  # type: ignore[operator]


def test_four_substations_freedm_stops_within_a_step(tmp_path: Path) -> None:
    report = demo_report(tmp_path, "--duration", "6", "--mode", "freedm")
    assert report["mode"] == "freedm"
    for node in report["nodes"]:  # type: ignore[attr-defined]
        assert abs(node["gateway"] - node["net_generation"]) < 1.0, node
    assert report["setpoint_sum_change"] == pytest.approx(0.0, abs=1e-9)
