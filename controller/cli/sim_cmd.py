"""``dgi sim SCENARIO.toml``: run a scenario in virtual time and write what happened.

Writes ``series.csv`` (every node at every sampling instant), ``events.csv`` and
``summary.json`` into ``--out`` (default: ``--plot``'s directory, else ``sim-out/NAME``), the
charts with ``--plot DIR``, and prints the summary. A progress bar shows on a terminal when
the run is expected to take more than a few seconds. Exit 0 when the run converged and every
invariant held, 1 when it did not, 2 for a scenario file that cannot be run (every problem
listed).
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from pathlib import Path

import typer

from controller.sim.engine import Engine
from controller.sim.output import SeriesWriter, write_events, write_summary
from controller.sim.progress import progress, wanted
from controller.sim.record import Summary
from controller.sim.scenario import Scenario, load_scenario
from controller.sim.schema import Mode

#: A first guess of wall seconds per node per virtual second (the bar shows above 3 s).
WALL_PER_NODE_S = 0.0005


def load_or_exit(path: Path) -> Scenario:
    scenario, issues = load_scenario(path)
    if scenario is None or issues:
        for issue in issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(issues)} error(s); not run", err=True)
        raise typer.Exit(2)
    return scenario


def run_sim(
    path: Path,
    *,
    out: Path | None,
    plot: Path | None,
    full_wire: bool,
    seed: int | None,
    duration_s: float | None,
    mode: Mode | None = None,
) -> int:
    scenario = load_or_exit(path)
    if mode is not None:
        scenario = scenario.with_mode(mode)
    header = scenario.header
    changes = {
        k: v
        for k, v in (("full_wire", full_wire or None), ("seed", seed), ("duration_s", duration_s))
        if v is not None
    }
    if changes:
        scenario = replace(scenario, header=header.model_copy(update=changes))
        header = scenario.header
    directory = out or plot or Path("sim-out") / header.name
    directory.mkdir(parents=True, exist_ok=True)
    series = directory / "series.csv"
    expected = WALL_PER_NODE_S * len(scenario.site.nodes) * header.duration_s
    began = time.perf_counter()
    with SeriesWriter(series) as writer:
        engine = Engine(scenario, writer.add)
        with progress(
            header.duration_s, show=wanted(expected, terminal=sys.stderr.isatty())
        ) as advance:
            summary = engine.run(advance)
    summary = replace(summary, wall_s=time.perf_counter() - began)
    write_events(directory / "events.csv", engine.events)
    write_summary(directory / "summary.json", summary)
    written = [series, directory / "events.csv", directory / "summary.json"]
    if plot is not None:
        from controller.sim.plots import plot_run

        written += plot_run(plot, series, engine.events, summary)
    show(summary)
    for file in written:
        typer.echo(f"wrote {file}")
    ok = summary.converged and all(summary.invariant_checks.values())
    return 0 if ok else 1


def show(summary: Summary) -> None:
    converged = (
        f"converged at {summary.convergence_s:.1f} s"
        if summary.converged and summary.convergence_s is not None
        else "did not converge"
    )
    checks = ", ".join(
        f"{k} {'held' if v else 'FAILED'}" for k, v in summary.invariant_checks.items()
    )
    typer.echo(
        f"{summary.scenario}: {summary.nodes} nodes on {summary.feeders} feeder(s), "
        f"{summary.duration_s:g} virtual s in {summary.wall_s:.2f} wall s (seed {summary.seed})\n"
        f"  {converged}; spread {summary.final_spread:.3f} kW, residual {summary.residual:.3f} kW\n"
        f"  migrations {summary.migrations}, messages {summary.messages} "
        f"({summary.messages_per_node_round:.1f} per node per round), "
        f"group changes {summary.elections}\n"
        f"  Σ setpoint changes {summary.setpoint_sum_change:+.6f} kW; {checks}"
    )
    if summary.charging:
        answers = ", ".join(f"{k} {v}" for k, v in summary.charging.items() if k != "asked")
        typer.echo(f"  charging requests {summary.charging.get('asked', 0)}: {answers}")
