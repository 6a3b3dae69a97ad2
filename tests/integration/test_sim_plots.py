"""``dgi sim --plot``'s charts (controller/sim/plots.py) drawn by matplotlib for synthetic
runs: 4 nodes (a line and a band per node) and 60 nodes (aggregated per feeder), from samples
in memory and from the series.csv read back."""

from __future__ import annotations

import math
import struct
from pathlib import Path

import pytest

from controller.sim.output import write_csv
from controller.sim.plots import plot_run
from controller.sim.record import Event, NodeSample, Sample, Summary

pytestmark = pytest.mark.timeout(90)
CHARTS = ["gateway.png", "k.png", "migrations.png", "groups.png"]
PNG = b"\x89PNG\r\n\x1a\n"


def run(nodes: int, feeders: int, instants: int) -> list[Sample]:
    """Gateways relaxing towards K per feeder; the last node of feeder 0 crashed in the middle
    third; groups split into singletons for the first tenth, then one group per feeder."""
    out = []
    for i in range(instants):
        t = i * 0.5
        crashed = instants // 3 <= i < 2 * instants // 3
        grouped = i >= instants // 10
        per_feeder = nodes // feeders
        rows = []
        for n in range(nodes):
            feeder = n // per_feeder
            name = f"n{n + 1}"
            leader = f"n{feeder * per_feeder + 1}" if grouped else name
            start = -20.0 + 30.0 * ((n * 7) % 5) / 4
            rows.append(
                NodeSample(
                    node=name, feeder=f"feeder{feeder + 1}", up=not (crashed and n == per_feeder - 1),
                    state=["supply", "demand", "normal"][n % 3],
                    gateway=start * math.exp(-t / 10), net_generation=2.0 + math.sin(t + n),
                    predicted=start * math.exp(-(t + 0.5) / 10), pstar=start * (1 - math.exp(-t / 10)),
                    storage=None if n % 2 else 0.5, group=f"g{feeder}" if grouped else "",
                    leader=leader, k=-1.0 + feeder,
                )
            )  # fmt: skip
        out.append(
            Sample(
                t=t, nodes=tuple(rows), frequency=376.8, migrations=i // 5, messages=i * nodes * 3
            )
        )
    return out


def summary(nodes: int, feeders: int, duration_s: float) -> Summary:
    return Summary(
        scenario="synthetic", seed=1, nodes=nodes, feeders=feeders, duration_s=duration_s,
        wall_s=0.1, converged=True, convergence_s=10.0, final_spread=0.1, residual=0.2,
        setpoint_sum_change=0.0, migrations=3, messages=100, messages_per_node_round=2.0,
        elections=feeders,
    )  # fmt: skip


EVENTS = [
    Event(t=5.0, kind="scenario", node="n1", text="load step"),
    Event(t=6.0, kind="group", node="n2", text="joined"),
    Event(t=20.0, kind="scenario", node="", text="heal"),
]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG, f"{path.name} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height


def check(written: list[Path], directory: Path) -> None:
    assert written == [directory / name for name in CHARTS]
    for path in written:
        assert 5_000 < path.stat().st_size < 2_000_000, (path.name, path.stat().st_size)
        assert png_size(path) == (1000, 550), path.name


def test_four_nodes_from_samples_in_memory(tmp_path: Path) -> None:
    samples = run(nodes=4, feeders=1, instants=60)
    written = plot_run(tmp_path / "plots", samples, EVENTS, summary(4, 1, 30.0))
    check(written, tmp_path / "plots")


def test_sixty_nodes_from_the_series_read_back(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    write_csv(series, run(nodes=60, feeders=4, instants=120))
    written = plot_run(tmp_path / "plots", series, EVENTS, summary(60, 4, 60.0))
    check(written, tmp_path / "plots")


def test_an_empty_run_still_draws(tmp_path: Path) -> None:
    series = tmp_path / "series.csv"
    write_csv(series, [])
    written = plot_run(tmp_path, series, [], summary(0, 0, 0.0))
    assert all(path.read_bytes()[:8] == PNG for path in written)
