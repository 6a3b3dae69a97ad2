"""``dgi demo``: the simulated site and all its nodes on 127.0.0.1, a live view, a JSON report.

The nodes run in this one process (each with its own peer socket and Modbus links), so the
demo starts with one command and stops cleanly on Ctrl-C; ``dgi run`` runs one node per
process for real deployments and the system tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
from pathlib import Path

from rich.console import Console

from config.settings import PlantKind
from config.site import Site
from controller.cli.demo_view import DemoView
from controller.cli.lifecycle import show_until_stop, start_simulation, wait_for_stop
from controller.core.convergence import Settling
from controller.core.readings import ACTUATORS
from controller.node.api_link import ApiStartError
from controller.node.runtime import NodeRuntime
from controller.node.snapshot import snapshot
from controller.peer.keys import KeyFileError, Keyring, load_keyring
from device_drivers.ocpp import CentralSystemError
from simulators.plant import Plant
from simulators.runner import Simulation


def with_mode(site: Site, mode: str | None) -> Site:
    """The site with its algorithm mode replaced (``--mode``)."""
    if mode is None:
        return site
    algorithm = site.algorithm.model_copy(update={"mode": mode})
    return dataclasses.replace(
        site, document=site.document.model_copy(update={"algorithm": algorithm})
    )


def demo_keyring(site: Site) -> Keyring:
    """The site's key file if it exists; otherwise a random key that lives only in this process."""
    path = Path(site.path).parent / site.document.site.key_file
    if path.exists():
        return load_keyring(path)
    return Keyring("demo", {"demo": secrets.token_bytes(32)})


def imbalance(plant: Plant, node_id: str, storage_actuated: bool) -> float:
    view = plant.substations()[node_id]
    net = view.net_generation - (view.storage if storage_actuated else 0.0)
    return view.gateway - net


@dataclasses.dataclass
class Tracker:
    """Samples the plant: the largest imbalance over the nodes, every ``period`` seconds."""

    sim: Simulation
    nodes: list[NodeRuntime]
    period: float = 0.01

    def __post_init__(self) -> None:
        self.settling = Settling(self.sim.site.algorithm.tolerance)

    async def run(self) -> None:
        storage = self.sim.site.algorithm.actuation == "desd"
        while True:
            self.sim.plant.advance(self.sim.now())
            worst = max(abs(imbalance(self.sim.plant, n.node.id, storage)) for n in self.nodes)
            self.settling.add(self.nodes[0].clock(), worst)
            await asyncio.sleep(self.period)

    def converged_at(self) -> float | None:
        """Seconds from the first round until the plant balanced and stayed so."""
        return self.settling.converged_at(self.first_round()) if self.started() else None

    def started(self) -> bool:
        return all(n.scheduler.first_cycle is not None for n in self.nodes)

    def first_round(self) -> float:
        starts = [
            n.scheduler.first_cycle for n in self.nodes if n.scheduler.first_cycle is not None
        ]
        plan = self.nodes[0].plan
        return min(starts) + plan.gm_s + plan.sc_s


def held_pstar(site: Site, plant: Plant, node_id: str) -> float:
    """The PStar a node's actuator holds, read from the plant (the device), not the node."""
    storage = site.algorithm.actuation == "desd"
    kind, signal = ACTUATORS[site.algorithm.actuation]
    actuator = min(d.id for d in site.devices_of(node_id) if d.type == kind)
    value = plant.commanded(actuator, signal) or 0.0
    if storage:
        view = plant.substations()[node_id]
        value += view.generation - view.drain - view.ev_power
    return value


def report(
    site: Site,
    nodes: list[NodeRuntime],
    tracker: Tracker,
    duration: float | None,
    initial: dict[str, float],
) -> dict[str, object]:
    rows = []
    change = 0.0
    tracker.sim.plant.advance(tracker.sim.now())
    for node in nodes:
        s = snapshot(node, node.clock())
        rows.append(
            {
                "id": s.node,
                "state": s.state,
                "gateway": s.gateway,
                "net_generation": s.net_generation,
                "predicted_gateway": s.predicted_gateway,
                "migrations_in": s.counters.migrations_in,
                "migrations_out": s.counters.migrations_out,
            }
        )
        change += held_pstar(site, tracker.sim.plant, node.node.id) - initial[node.node.id]
    tolerance = site.algorithm.tolerance
    return {
        "site": site.name,
        "mode": site.algorithm.mode,
        "duration_s": duration,
        "tolerance": tolerance,
        "nodes": rows,
        "setpoint_sum_change": round(change, 9) + 0.0,
        "converged_at_s": _round(tracker.converged_at()),
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


class NodeStartError(RuntimeError):
    """A node of the demo could not bind its peer socket (another demo running?)."""


async def start_together(nodes: list[NodeRuntime]) -> None:
    """Start every node at once (one first cycle), and all of them to the end even when one
    fails, so that stopping them afterwards never meets a start still under way."""
    results = await asyncio.gather(*(node.start() for node in nodes), return_exceptions=True)
    for node, result in zip(nodes, results, strict=True):
        if isinstance(result, CentralSystemError):
            raise NodeStartError(
                f"node {node.node.id} cannot start: {result} (is another dgi demo or dgi run "
                "using it?)"
            ) from result
        if isinstance(result, OSError):
            raise NodeStartError(
                f"node {node.node.id} cannot start: {result} (peer address {node.node.peer}; "
                "is another dgi demo or dgi run using it?)"
            ) from result
        if isinstance(result, BaseException):
            raise result


async def run_demo(
    site: Site,
    duration: float | None,
    report_format: str | None,
    console: Console,
    plant: PlantKind | None = None,
) -> int:
    sim = await start_simulation(site, console, plant=plant)
    if sim is None:
        return 1
    nodes: list[NodeRuntime] = []
    tracker_task: asyncio.Task[None] | None = None
    try:
        keyring = demo_keyring(site)
        addresses = {
            d.id: sim.address(d.id) for d in site.devices if d.simulated and not d.entry.serial_port
        }
        nodes = [NodeRuntime(site, n.id, keyring, addresses=addresses) for n in site.nodes]
        sim.plant.advance(sim.now())
        initial = {n.id: held_pstar(site, sim.plant, n.id) for n in site.nodes}
        await start_together(nodes)
        tracker = Tracker(sim, nodes)
        tracker_task = asyncio.create_task(tracker.run(), name="tracker")
        if report_format is None:
            for entry in site.nodes:
                base = f"http://{entry.api}"
                console.print(
                    f"{entry.id}: page {base}/  API {base}/api/v1/status  docs {base}/docs  "
                    f"metrics {base}/metrics",
                    highlight=False,
                    soft_wrap=True,
                )
            view = DemoView(tracker)
            await show_until_stop(view.table, console, duration, line=view.line)
        else:
            await wait_for_stop(duration)
            console.print_json(json.dumps(report(site, nodes, tracker, duration, initial)))
    except (KeyFileError, ApiStartError, NodeStartError) as exc:
        console.print(f"[red]error:[/red] {exc}", highlight=False)
        return 1
    finally:
        if tracker_task is not None:
            tracker_task.cancel()
            await asyncio.gather(tracker_task, return_exceptions=True)
        # all at once: each waits for its round and its API process, and a stop that
        # waited for each node in turn would take the sum of those waits
        await asyncio.gather(*(node.stop(release=False) for node in nodes))
        await sim.stop()
    return 0
