"""``dgi cosim-node``, ``dgi cosim-plant`` and ``dgi cosim-runner``: a site as a HELICS
federation (docs/cosim.md).

``--config`` is a site file or a scenario file (``dgi sim``'s, also one with ``[generate]``:
every federate generates the same site from it, and each node then knows its feeder only).
HELICS is imported when a federate starts, so ``dgi`` runs without it. Exit 1 when the
broker cannot be reached (naming the address), for an unknown node or a bad option; each
federate prints a JSON summary line at the end.
"""

from __future__ import annotations

import json
import os
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from config.site import Site


@dataclass(frozen=True)
class CosimSite:
    site: Site
    members: Mapping[str, Sequence[str]] | None = None  # the nodes each node knows
    anchors: int = 0  # tier 2's anchors per feeder (0: no tier 2)


def load_for_cosim(path: Path) -> CosimSite:
    """The site of ``path``; for a scenario with feeders, the nodes each node knows and tier
    2 as ``dgi sim`` runs it (controller/sim/engine.py)."""
    try:
        is_scenario = "scenario" in tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        typer.echo(f"{path}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not is_scenario:
        from controller.cli.app import load_or_exit

        return CosimSite(load_or_exit(path))
    from controller.cli.sim_cmd import load_or_exit as load_scenario_or_exit
    from controller.sim.engine import TIER_ANCHORS

    scenario = load_scenario_or_exit(path)
    if len(scenario.feeders) <= 1:
        return CosimSite(scenario.site)
    members = {n: scenario.feeders[scenario.feeder_of[n]] for n in scenario.feeder_of}
    tiers = scenario.header.tiers and scenario.site.algorithm.mode == "adaptive"
    return CosimSite(scenario.site, members, TIER_ANCHORS if tiers else 0)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


def run_node(
    config: Path,
    *,
    nodes: str | None,
    all_nodes: bool,
    part: str | None,
    broker: str,
    core: str,
    name: str | None,
    until_s: float,
    step_s: float,
    timeout_s: float,
    record: Path | None,
) -> None:
    from controller.cosim.federated_nodes import FederatedNodes
    from controller.cosim.helics_plan import select_nodes

    loaded = load_for_cosim(config)
    site = loaded.site
    try:
        chosen = select_nodes([n.id for n in site.nodes], nodes=nodes, all_nodes=all_nodes,
                              part=part)  # fmt: skip
        group = FederatedNodes(site, chosen, members=loaded.members, anchors=loaded.anchors)
    except ValueError as exc:
        raise _fail(f"cosim-node: {exc}") from None
    from controller.cosim.helics_federate import BrokerUnreachable
    from controller.cosim.helics_node import FederateSettings, NodeFederate

    settings = FederateSettings(
        name or f"nodes-{chosen[0]}", broker, core, step_s, until_s, timeout_s, record
    )
    try:
        summary = NodeFederate(group, settings).run()
    except (BrokerUnreachable, ValueError) as exc:
        raise _fail(f"cosim-node: {exc}") from None
    typer.echo(json.dumps(summary))


def run_plant(
    config: Path,
    *,
    broker: str,
    core: str,
    plant: str | None,
    until_s: float,
    step_s: float,
    timeout_s: float,
    record: Path | None,
) -> None:
    site = load_for_cosim(config).site
    from controller.cosim.helics_federate import BrokerUnreachable
    from controller.cosim.helics_node import FederateSettings
    from controller.cosim.helics_plant import PlantFederate, make_plant

    settings = FederateSettings("plant", broker, core, step_s, until_s, timeout_s, record)
    try:
        summary = PlantFederate(
            site, make_plant(site, plant or site.simulation.plant), settings
        ).run()
    except (BrokerUnreachable, ValueError) as exc:
        raise _fail(f"cosim-plant: {exc}") from None
    typer.echo(json.dumps(summary))


def write_runner(
    config: Path,
    *,
    federates: int,
    port: int,
    core: str,
    until_s: float,
    step_s: float,
    dgi: str,
    record_dir: str | None,
    out: Path | None,
) -> None:
    from controller.cosim.helics_plan import RunnerSettings, runner

    site = load_for_cosim(config).site
    # the federates run where this command runs, so ``config`` means the same to them
    here = os.path.relpath(Path.cwd(), (out or Path("runner.json")).resolve().parent)
    settings = RunnerSettings(str(config), federates, port, core, until_s, step_s, dgi,
                              record_dir, directory=here)  # fmt: skip
    try:
        document = runner(settings, [n.id for n in site.nodes])
    except ValueError as exc:
        raise _fail(f"cosim-runner: {exc}") from None
    text = json.dumps(document, indent=2) + "\n"
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text)
        typer.echo(f"wrote {out}: run it with PATH=.venv/bin:$PATH helics run --path {out}")


# -- the commands (registered on dgi's app by controller.cli.app) ----------------------------

Config = Annotated[Path, typer.Option("--config", "-c", help="site or scenario TOML file")]
Broker = Annotated[str, typer.Option(help="the HELICS broker, HOST:PORT")]
Core = Annotated[str, typer.Option(help="HELICS core: tcp or zmq (zmq also uses PORT+1)")]
Until = Annotated[float, typer.Option("--until", help="virtual s to run, then leave")]
Step = Annotated[float, typer.Option("--step", help="the co-simulation step (virtual s)")]
Timeout = Annotated[float, typer.Option("--timeout", help="s to wait for the broker")]
Record = Annotated[Path | None, typer.Option(help="write what happened here (JSON)")]


def register(app: typer.Typer) -> None:
    @app.command("cosim-node")
    def cosim_node(
        config: Config,
        broker: Broker,
        nodes: Annotated[str | None, typer.Option(help="the nodes, n1,n2,...")] = None,
        all_nodes: Annotated[bool, typer.Option("--all", help="every node of the site")] = False,
        part: Annotated[
            str | None, typer.Option("--slice", help="I/N: the I-th of N equal runs of nodes")
        ] = None,
        core: Core = "tcp",
        name: Annotated[str | None, typer.Option(help="the federate's name")] = None,
        until: Until = 10.0,
        step: Step = 0.01,
        timeout: Timeout = 10.0,
        record: Record = None,
    ) -> None:
        """Some of a site's nodes as one HELICS federate (docs/cosim.md)."""
        run_node(config, nodes=nodes, all_nodes=all_nodes, part=part, broker=broker,
                 core=core, name=name, until_s=until, step_s=step, timeout_s=timeout,
                 record=record)  # fmt: skip

    @app.command("cosim-plant")
    def cosim_plant(
        config: Config,
        broker: Broker,
        core: Core = "tcp",
        plant: Annotated[
            str | None,
            typer.Option(help="simple or pandapower (default: the site's [simulation] plant)"),
        ] = None,
        until: Until = 10.0,
        step: Step = 0.01,
        timeout: Timeout = 10.0,
        record: Record = None,
    ) -> None:
        """A site's plant as one HELICS federate (docs/cosim.md)."""
        run_plant(config, broker=broker, core=core, plant=plant, until_s=until, step_s=step,
                  timeout_s=timeout, record=record)  # fmt: skip

    @app.command("cosim-runner")
    def cosim_runner(
        config: Config,
        federates: Annotated[int, typer.Option(help="node federates")] = 2,
        broker_port: Annotated[int, typer.Option(help="the broker's port")] = 23500,
        core: Core = "tcp",
        until: Until = 10.0,
        step: Step = 0.01,
        dgi: Annotated[str, typer.Option(help="how the federates start dgi")] = "dgi",
        record_dir: Annotated[
            str | None, typer.Option(help="each federate records DIR/NAME.json")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="write here, not to stdout")
        ] = None,
    ) -> None:
        """A `helics run` runner file: broker, plant and node federates (docs/cosim.md)."""
        write_runner(config, federates=federates, port=broker_port, core=core, until_s=until,
                     step_s=step, dgi=dgi, record_dir=record_dir, out=output)  # fmt: skip
