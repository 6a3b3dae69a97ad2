"""The run's files (controller/sim/output.py), the chart series (charts.py) and the progress
bar (progress.py), on synthetic records."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import pytest
from rich.console import Console

from controller.sim.charts import ALONE, fold
from controller.sim.output import (
    COLUMNS,
    SeriesWriter,
    fixed,
    natural_key,
    read_rows,
    sample_rows,
    summary_text,
    write_csv,
    write_events,
    write_summary,
)
from controller.sim.progress import progress, wanted
from controller.sim.record import Event, NodeSample, Sample, Summary

HEADER = (
    "t,node,feeder,up,state,gateway,net_generation,predicted,pstar,storage,group,leader,k,"
    "frequency,migrations,messages"
)


def node(
    name: str,
    t: float,
    *,
    feeder: str = "f1",
    up: bool = True,
    group: str = "g1",
    leader: str = "n1",
    storage: float | None = 0.5,
) -> NodeSample:
    return NodeSample(
        node=name,
        feeder=feeder,
        up=up,
        state="normal",
        gateway=-20.0 + t / 3,
        net_generation=1.0 / 3,
        predicted=-19.99999,
        pstar=-0.0,
        storage=storage,
        group=group,
        leader=leader,
        k=2.0 / 3,
    )


def samples(names: list[str], times: list[float]) -> list[Sample]:
    """Nodes given in scrambled order, to check the rows come sorted."""
    return [
        Sample(
            t=t,
            nodes=tuple(node(n, t) for n in reversed(names)),
            frequency=376.8,
            migrations=i,
            messages=10 * i,
        )
        for i, t in enumerate(times)
    ]


SUMMARY = Summary(
    scenario="four-substations",
    seed=7,
    nodes=4,
    feeders=1,
    duration_s=60.0,
    wall_s=1.23456,
    converged=True,
    convergence_s=12.345678,
    final_spread=0.1 + 0.2,
    residual=-1e-12,
    setpoint_sum_change=1e-9,
    migrations=3,
    messages=1200,
    messages_per_node_round=2.0 / 3,
    elections=2,
    invariant_checks={"conservation": True, "one leader per group": False},
)


def test_csv_header_and_rows_are_exact(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    rows = write_csv(path, samples(["n10", "n2", "n1"], [0.0, 0.5]))
    lines = path.read_bytes().decode().split("\n")
    assert rows == 6
    assert lines[0] == HEADER
    assert [line.split(",")[1] for line in lines[1:4]] == ["n1", "n2", "n10"]
    assert (
        lines[1]
        == "0.000,n1,f1,1,normal,-20.0000,0.3333,-20.0000,0.0000,0.5000,g1,n1,0.6667,376.8000,0,0"
    )
    assert (
        lines[4]
        == "0.500,n1,f1,1,normal,-19.8333,0.3333,-20.0000,0.0000,0.5000,g1,n1,0.6667,376.8000,1,10"
    )
    assert lines[-1] == ""
    assert len(lines) == 8
    assert b"\r" not in path.read_bytes()


def test_same_records_give_byte_identical_csv(tmp_path: Path) -> None:
    one, two = tmp_path / "one.csv", tmp_path / "two.csv"
    write_csv(one, samples(["a", "b", "c"], [0.0, 0.1, 0.2]))
    write_csv(two, samples(["a", "b", "c"], [0.0, 0.1, 0.2]))
    assert one.read_bytes() == two.read_bytes()


def test_no_battery_is_an_empty_cell_and_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    sample = Sample(
        t=1.0,
        nodes=(node("n1", 1.0, storage=None, up=False),),
        frequency=376.8,
        migrations=0,
        messages=0,
    )
    write_csv(path, [sample])
    (row,) = read_rows(path)
    assert row.storage is None
    assert row.up is False
    assert path.read_text().split("\n")[1].split(",")[COLUMNS.index("storage")] == ""


def test_rows_read_back_as_written(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    records = samples(["n1", "n2"], [0.0, 1.0])
    write_csv(path, records)
    back = list(read_rows(path))
    direct = [row for s in records for row in sample_rows(s)]
    assert [(r.t, r.node, r.migrations) for r in back] == [
        (r.t, r.node, r.migrations) for r in direct
    ]
    assert all(
        math.isclose(a.gateway, b.gateway, abs_tol=1e-4) for a, b in zip(back, direct, strict=True)
    )


def test_writer_refuses_time_going_back_and_adds_after_close(tmp_path: Path) -> None:
    first, second = samples(["n1"], [1.0, 2.0])
    writer = SeriesWriter(tmp_path / "series.csv")
    writer.add(second)
    with pytest.raises(
        ValueError, match=r"t=1.0 after t=2.0: samples must come in increasing time"
    ):
        writer.add(first)
    writer.close()
    writer.close()  # idempotent
    with pytest.raises(ValueError, match="after close"):
        writer.add(second)


def test_bad_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "series.csv"
    path.write_text("t,node\n0.000,n1\n")
    with pytest.raises(ValueError, match=r"series.csv:1: header"):
        list(read_rows(path))


@pytest.mark.parametrize(
    ("value", "decimals", "text"),
    [
        (0.0, 4, "0.0000"),
        (-0.0, 4, "0.0000"),
        (-0.00004, 4, "0.0000"),
        (-0.00005, 3, "0.000"),
        (-1.5, 1, "-1.5"),
        (-10.0, 2, "-10.00"),
        (2 / 3, 4, "0.6667"),
        (1e9, 3, "1000000000.000"),
    ],
)
def test_fixed_decimals(value: float, decimals: int, text: str) -> None:
    assert fixed(value, decimals) == text


def test_natural_order() -> None:
    assert sorted(["n10", "n2", "n1", "feeder2-n3", "feeder10-n1"], key=natural_key) == [
        "feeder2-n3",
        "feeder10-n1",
        "n1",
        "n2",
        "n10",
    ]


def test_events_csv_sorted_stably_by_time(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    events = [
        Event(t=5.0, kind="group", node="n2", text="joined g1, leader n1"),
        Event(t=1.0, kind="scenario", node="", text="load step n1 +5 kW, then 2"),
        Event(t=5.0, kind="migration", node="n1", text='n1 -> n2 1.0 kW "draft"'),
    ]
    assert write_events(path, events) == 3
    assert path.read_text() == (
        "t,kind,node,text\n"
        '1.000,scenario,,"load step n1 +5 kW, then 2"\n'
        '5.000,group,n2,"joined g1, leader n1"\n'
        '5.000,migration,n1,"n1 -> n2 1.0 kW ""draft"""\n'
    )


def test_summary_json_sorted_rounded_and_deterministic(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_summary(path, SUMMARY)
    text = path.read_text()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert text.startswith(
        '{\n  "charging": {},\n  "converged": true,\n  "convergence_s": 12.3457,\n'
    )
    assert text.endswith("}\n")
    assert data["final_spread"] == 0.3
    assert data["residual"] == 0.0
    assert data["setpoint_sum_change"] == 0.0
    assert data["messages_per_node_round"] == 0.6667
    assert data["wall_s"] == 1.23
    assert data["invariant_checks"] == {"conservation": True, "one leader per group": False}
    assert data["converged"] is True
    assert data["convergence_s"] == 12.3457
    other = Summary(**{**SUMMARY.__dict__, "wall_s": 99.0})
    strip = [line for line in text.splitlines() if "wall_s" not in line]
    assert strip == [line for line in summary_text(other).splitlines() if "wall_s" not in line]


def test_summary_never_converged_and_nan_are_null() -> None:
    data = json.loads(
        summary_text(
            Summary(**{**SUMMARY.__dict__, "convergence_s": None, "final_spread": math.nan})
        )
    )
    assert data["convergence_s"] is None
    assert data["final_spread"] is None


def test_chart_series_per_node() -> None:
    records = samples(["n1", "n2"], [0.0, 1.0])
    data = fold((row for s in records for row in sample_rows(s)), nodes=2)
    assert data.per_node
    assert data.times == [0.0, 1.0]
    assert set(data.gateway) == {"n1", "n2"}
    assert len(data.gateway["n1"]) == 2
    assert data.migrations == [0, 1]
    assert data.messages == [0, 10]
    assert data.bands == {"n1": ["n1", "n1"], "n2": ["n1", "n1"]}


def test_chart_series_per_feeder_sum_mean_and_groups() -> None:
    nodes = [
        node(f"n{i}", 0.0, feeder=f"f{i % 2}", group="" if i == 0 else f"g{i % 2}", up=i != 3)
        for i in range(40)
    ]
    data = fold(
        sample_rows(Sample(t=0.0, nodes=tuple(nodes), frequency=376.8, migrations=0, messages=0)),
        nodes=40,
    )
    assert not data.per_node
    assert set(data.gateway) == {"f0", "f1"}
    assert math.isclose(data.gateway["f0"][0], 20 * -20.0)  # the sum over the feeder
    assert math.isclose(data.k["f1"][0], 2 / 3)  # the mean over running nodes
    # n0 alone, g0: 19 nodes, g1: 20 nodes minus n3 down
    assert data.group_count == [3]
    assert data.largest_group == [19]
    assert ALONE not in data.gateway


def test_chart_series_fill_a_line_missing_at_an_instant() -> None:
    first = Sample(
        t=0.0, nodes=(node("n1", 0.0), node("n2", 0.0)), frequency=1, migrations=0, messages=0
    )
    later = Sample(t=1.0, nodes=(node("n1", 1.0),), frequency=1, migrations=0, messages=0)
    data = fold([*sample_rows(first), *sample_rows(later)], nodes=2)
    assert math.isnan(data.gateway["n2"][1])
    assert data.bands["n2"] == ["n1", ""]


def test_progress_silent_when_not_shown(capsys: pytest.CaptureFixture[str]) -> None:
    with progress(10.0, show=False) as advance:
        advance(5.0)
    assert capsys.readouterr() == ("", "")


def test_progress_shows_virtual_time_done() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with progress(60.0, show=True, console=console) as advance:
        advance(30.0)
        advance(75.0)  # clamped to the duration
    assert "60.0 / 60.0 s" in out.getvalue()


@pytest.mark.parametrize(
    ("expected_s", "terminal", "shown"),
    [(10.0, True, True), (1.0, True, False), (10.0, False, False)],
)
def test_progress_wanted(expected_s: float, terminal: bool, shown: bool) -> None:
    assert wanted(expected_s, terminal=terminal) is shown
