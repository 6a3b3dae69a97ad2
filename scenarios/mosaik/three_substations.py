"""mosaik scenario: the three-substations site's nodes and plant, driven by mosaik-csv profiles.

    .venv/bin/python scenarios/mosaik/three_substations.py [--until 180] [--nodes-process]
        [--nodes-at HOST:PORT] [--groups sst1,sst2 sst3] [--trace] [--json FILE]
        [--results FILE]

Four simulators in one mosaik world (docs/cosim.md, "mosaik"):

* ``PV`` and ``Load`` — mosaik-csv (mosaik's own) reading ``pv.csv`` and ``load.csv`` here:
  sst1's PV generation and sst2's load drain, kW, a row a minute or so;
* ``Plant`` — our site's plant (:class:`controller.cosim.mosaik_sims.PlantSim`), whose
  ``sst1-pv.generation`` and ``sst2-load.drain`` the profiles drive;
* ``Nodes`` — the site's three nodes (:class:`controller.cosim.mosaik_sims.NodesSim`),
  coupled to the plant device by device; with ``--nodes-process`` it runs in a process of
  its own, started by mosaik (its ``cmd`` starter); with ``--nodes-at HOST:PORT`` mosaik
  connects to one already listening there (``python -m controller.cosim.mosaik_sims Nodes
  --remote HOST:PORT``, e.g. on another host); with ``--groups`` a NodesSim per group of
  nodes (a feeder: the nodes of one group know only each other);
* ``Writer`` (``--results FILE``) — mosaik-csv's CSVWriter, observing each substation's
  imbalance as the plant has it and each node's G, NG and state, every step.

Mosaik time is in ms (``time_resolution=0.001``), the plant and the nodes step every 100 ms.
It prints a JSON summary: the plant's final imbalance per node (gateway − net generation),
Σ setpoint change at the SSTs, migrations, writes sent and received, wall time per step.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout: the project's packages

SITE = ROOT / "config" / "examples" / "three-substations.toml"
SIM_START = "2024-06-01 12:00:00"
STEP_MS = 100


def sim_config(nodes_process: bool, nodes_at: str | None = None) -> dict[str, dict[str, Any]]:
    """In-process simulators; the nodes' in a process mosaik starts (``nodes_process``) or one
    already listening at ``nodes_at`` (HOST:PORT, e.g. on another host)."""
    nodes: dict[str, Any] = {"python": "controller.cosim.mosaik_sims:NodesSim"}
    if nodes_at is not None:
        nodes = {"connect": nodes_at}
    elif nodes_process:
        command = "%(python)s -m controller.cosim.mosaik_sims Nodes -l warning %(addr)s"
        nodes = {"cmd": command, "cwd": str(ROOT)}
    return {
        "CSV": {"python": "mosaik_csv:CSV"},
        "Plant": {"python": "controller.cosim.mosaik_sims:PlantSim"},
        "Nodes": nodes,
        "Writer": {"python": "mosaik_csv_writer:CSVWriter"},
    }


def run(
    until_s: float = 180.0,
    *,
    nodes_process: bool = False,
    nodes_at: str | None = None,
    groups: Sequence[Sequence[str]] | None = None,
    pv: Path = HERE / "pv.csv",
    load: Path = HERE / "load.csv",
    trace: bool = False,
    results: Path | None = None,
    plant: str | None = None,
) -> dict[str, Any]:
    import mosaik
    from loguru import logger

    from config.loader import load_site

    logger.remove()  # mosaik logs every simulator start through loguru
    site = load_site(SITE)
    # cache=False: with its cache, mosaik keeps every output since the oldest step of any
    # simulator, and the CSV ones step only at their rows: each step would cost more.
    world = mosaik.World(
        sim_config(nodes_process, nodes_at),
        time_resolution=0.001,
        skip_greetings=True,
        cache=False,
    )
    try:
        plant_sim, simulators = build(world, site, groups, pv, load, trace, results, plant)
        until = round(until_s * 1000)
        started = time.perf_counter()
        world.run(until=until, print_progress=False, shutdown=False)
        wall = time.perf_counter() - started
        plant_summary = plant_sim.summary()
        parts = [nodes.summary() for nodes in simulators]
    finally:
        world.shutdown()
    steps = until // STEP_MS
    return {
        "until_s": until_s,
        "steps": steps,
        "wall_s": wall,
        "wall_per_step_ms": 1000.0 * wall / steps,
        "imbalance": plant_summary["imbalance"],
        "setpoint_sum_change": plant_summary["setpoint_sum_change"],
        "migrations": sum(part["migrations"] for part in parts),
        "nodes": {node: seen for part in parts for node, seen in part["nodes"].items()},
        "sent": sorted(write for part in parts for write in part["sent"]),
        "received": sorted(plant_summary["received"]),
        "power_flow": plant_summary["power_flow"],
        "grid_faults": plant_summary["grid_faults"],
        "trace": plant_summary["trace"],
    }


def build(
    world: Any,
    site: Any,
    groups: Sequence[Sequence[str]] | None,
    pv: Path,
    load: Path,
    trace: bool,
    results: Path | None,
    plant_kind: str | None = None,
) -> tuple[Any, list[Any]]:
    """The simulators and their entities, connected: the plant and its NodesSims."""
    from controller.cosim.mosaik_sims import couple

    pv_csv = world.start("CSV", sim_start=SIM_START, datafile=str(pv))
    load_csv = world.start("CSV", sim_start=SIM_START, datafile=str(load))
    plant = world.start(
        "Plant", site=str(SITE), step_size=STEP_MS, trace=trace, plant=plant_kind or "simple"
    )
    site_entity = plant.Site.create(1)[0]
    simulators, entities = [], []  # a NodesSim per group: the nodes of one know only each other
    for members in groups or [None]:
        nodes = world.start("Nodes", site=str(SITE), step_size=STEP_MS)
        group = nodes.Group.create(1, nodes=members)[0]
        couple(world, site, site_entity, group)
        simulators.append(nodes)
        entities.append(group)
    if results is not None:
        observe(world, results, site_entity, entities)
    devices = {e.eid: e for e in site_entity.children}
    world.connect(pv_csv.PV.create(1)[0], devices["sst1-pv"], ("P_kw", "generation"))
    world.connect(load_csv.Load.create(1)[0], devices["sst2-load"], ("P_kw", "drain"))
    return plant, simulators


def observe(world: Any, results: Path, site_entity: Any, groups: list[Any]) -> None:
    """mosaik-csv's CSVWriter records each substation's imbalance as the plant has it and
    what each node was told (G, NG) and is (its state), every step."""
    writer = world.start(
        "Writer",
        start_date=f"{SIM_START}.000000",
        date_format="%Y-%m-%d %H:%M:%S.%f",
        output_file=str(results),
    )
    monitor = writer.CSVWriter.create(1)[0]
    for entity in site_entity.children:
        if entity.type == "Substation":
            world.connect(entity, monitor, "grid_import")
    for group in groups:
        for entity in group.children:
            if entity.type == "Node":
                world.connect(entity, monitor, "G", "NG", "state")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", type=float, default=180.0, help="seconds of plant time")
    parser.add_argument("--nodes-process", action="store_true", help="NodesSim in its own process")
    parser.add_argument("--nodes-at", metavar="HOST:PORT", help="a NodesSim already listening")
    parser.add_argument("--groups", nargs="+", metavar="N1,N2", help="a NodesSim per group")
    parser.add_argument("--results", type=Path, help="mosaik-csv's CSVWriter records here")
    parser.add_argument("--json", type=Path, help="write the whole summary here")
    parser.add_argument("--trace", action="store_true", help="the PV and load values every step")
    parser.add_argument(
        "--plant", choices=("simple", "pandapower"), help="the plant (default: simple)"
    )
    args = parser.parse_args()
    groups = [g.split(",") for g in args.groups] if args.groups else None
    summary = run(
        args.until,
        nodes_process=args.nodes_process,
        nodes_at=args.nodes_at,
        groups=groups,
        trace=args.trace,
        results=args.results,
        plant=args.plant,
    )
    if args.json is not None:
        args.json.write_text(json.dumps(summary), encoding="utf-8")
    short = {k: v for k, v in summary.items() if k not in ("sent", "received", "trace")}
    short["writes"] = len(summary["sent"])
    print(json.dumps(short, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
