"""``dgi sim``'s engine: a scenario in virtual time, recorded.

The nodes are :func:`~controller.sim.site_group.site_group`:
each the core ``dgi run`` builds — group management, state collection, load balancing, EV
admission — knowing only its feeder's nodes, around the simulators' plant of every device of
the site, on a seeded in-memory network with the scenario's faults. The engine advances
virtual time to each event and each sampling instant in order, applies the event (a load or
generation step or profile, an operator's setpoint, charging requests, a crash or restart, a
Fid, a partition, a lossy link), and hands a :class:`~controller.sim.record.Sample` of every
node to ``sink``. Everything it reports is read from the plant (what the devices hold) or from
the cores (what the nodes believe), never inferred; the same scenario and seed give the same
records, to the bit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from controller.core.effects import Answer
from controller.core.readings import ACTUATORS
from controller.sim.events import (
    CrashEvent,
    EvArrivalsEvent,
    FidCloseEvent,
    FidOpenEvent,
    GatewaySetpointEvent,
    GenerationEvent,
    HealEvent,
    LinkLossEvent,
    LoadEvent,
    PartitionEvent,
    RestartEvent,
    ScenarioEvent,
)
from controller.sim.node_plant import NodePlant, SharedPlant
from controller.sim.record import Event, NodeSample, Sample, Summary
from controller.sim.scenario import Scenario
from controller.sim.site_group import site_group
from simulators.series import build_series

START = 1_000_000.0  # virtual time of the scenario's t = 0 (a cycle boundary)
TIER_ANCHORS = 2  # per feeder: tier 2 goes on when its leader is gone


@dataclass
class Progress:
    """Counters the engine keeps while it runs (read by the summary)."""

    migrations_before: dict[str, int] = field(default_factory=dict)  # of crashed cores
    external: float = 0.0  # Σ setpoint changes made behind the nodes' backs (operator events)
    groups: dict[str, tuple[str, str]] = field(default_factory=dict)  # node -> (group, leader)
    elections: int = 0
    unbalanced_at: float | None = None  # the last sample with a node outside the band
    charge_token: int = 0
    answered: dict[str, int] = field(default_factory=dict)  # of crashed cores, by status


class Engine:
    """One scenario run. :meth:`run` it once."""

    def __init__(self, scenario: Scenario, sink: Callable[[Sample], None]) -> None:
        self.scenario = scenario
        self.sink = sink
        header = scenario.header
        site = self.site = scenario.site  # the scenario's mode applied
        members = None
        if len(scenario.feeders) > 1:
            members = {n: scenario.feeders[scenario.feeder_of[n]] for n in scenario.feeder_of}
        self.faults = scenario.faults()
        # tier 2 moves power between feeders (adaptive mode only: docs/algorithm.md)
        self.tiers = header.tiers and members is not None and site.algorithm.mode == "adaptive"
        self.group = site_group(
            site,
            members=members,
            seed=header.seed,
            faults=self.faults,
            start=START,
            full_wire=header.full_wire,
            anchors=TIER_ANCHORS if self.tiers else 0,
        )
        assert self.group.shared is not None
        self.shared: SharedPlant = self.group.shared
        self.events: list[Event] = []
        self.progress = Progress()
        settings = next(iter(self.group.nodes.values())).core.lb.settings
        self.band = settings.tolerance if settings.adaptive else settings.step
        self.round_s = site.timings.LB_ROUND_TIME / 1000.0

    # -- running ----------------------------------------------------------------------------------

    def run(self, progress: Callable[[float], None] | None = None) -> Summary:
        """Every event and sample in time order, then the summary."""
        began = time.perf_counter()
        header = self.scenario.header
        pending = list(self.scenario.events)
        steps = max(1, math.ceil(header.duration_s / header.sample_s))
        samples = [min(header.duration_s, i * header.sample_s) for i in range(steps + 1)]
        index = 0
        for t in samples:
            while index < len(pending) and pending[index].at_s <= t:
                event = pending[index]
                self.group.run_until(START + event.at_s)
                self._apply(event)
                index += 1
            self.group.run_until(START + t)
            self._sample(t)
            if progress is not None:
                progress(t)
        return self._summary(time.perf_counter() - began)

    # -- events -----------------------------------------------------------------------------------

    def _note(self, kind: str, node: str, text: str) -> None:
        self.events.append(Event(round(self.group.now - START, 6), kind, node, text))

    def _first(self, node: str, device_type: str) -> str:
        ids = sorted(d.id for d in self.site.devices_of(node) if d.type == device_type)
        if not ids:
            raise ValueError(f"node {node} has no {device_type} device")
        return ids[0]

    def _apply(self, event: ScenarioEvent) -> None:
        group, now = self.group, self.group.now
        if isinstance(event, LoadEvent | GenerationEvent):
            kind = "Load" if isinstance(event, LoadEvent) else "Drer"
            device = self._first(event.node, kind)
            fn, at = build_series(event.profile()), event.at_s
            self.shared.set_series(device, lambda t: fn(t - at), now)
            self._note("scenario", event.node, f"{event.kind}: {device} {_what(event)}")
        elif isinstance(event, GatewaySetpointEvent):
            plant = group.nodes[event.node].plant
            assert isinstance(plant, NodePlant)
            plant.advance(now)
            if self.site.algorithm.reconcile == "adopt":  # reassert: the node writes it back
                self.progress.external += event.kw - plant.pstar
            plant.pstar = event.kw
            self._note("scenario", event.node, f"operator sets PStar {event.kw:g} kW")
        elif isinstance(event, EvArrivalsEvent):
            self._arrivals(event)
        elif isinstance(event, CrashEvent):
            lb = group.nodes[event.node].core.lb
            before = self.progress.migrations_before
            before[event.node] = before.get(event.node, 0) + lb.migrations_out
            self._count_answers(group.nodes[event.node].answers.values())
            group.crash(event.node)
            self._note("scenario", event.node, "crash (SIGKILL)")
        elif isinstance(event, RestartEvent):
            group.restart(event.node)
            self._note("scenario", event.node, "restart")
        elif isinstance(event, FidOpenEvent | FidCloseEvent):
            closed = isinstance(event, FidCloseEvent)
            node = self.site.device(event.fid).node_id
            group.set_fid(node, event.fid, closed)
            self._note("scenario", node, f"{event.fid} {'closed' if closed else 'opened'}")
        elif isinstance(event, PartitionEvent):
            cells = {n: i for i, cell in enumerate(event.groups or []) for n in cell}
            self._faults(cells=cells)
            self._note("scenario", "", f"partition into {len(event.groups or [])} cells")
        elif isinstance(event, HealEvent):
            self._faults(cells={})
            self._note("scenario", "", "partition healed")
        elif isinstance(event, LinkLossEvent):
            links = dict(self.faults.link_drop)
            links[frozenset((event.a, event.b))] = event.drop
            self._faults(link_drop=links)
            self._note("scenario", "", f"link {event.a}-{event.b} drops {event.drop:g}")

    def _faults(self, **changes: object) -> None:
        self.faults = replace(self.faults, **changes)  # type: ignore[arg-type]
        self.group.set_faults(self.faults)

    def _arrivals(self, event: EvArrivalsEvent) -> None:
        """``count`` charging requests at the entry node, evenly over ``over_s``."""
        gap = event.over_s / event.count

        def request(i: int) -> Callable[[], None]:
            def ask() -> None:
                node = self.group.nodes[event.node]
                if node.down:
                    return
                self.progress.charge_token += 1
                body = {"ev_id": f"{event.node}-ev{i}", "power_kw": event.power_kw,
                        "energy_kwh": event.energy_kwh}  # fmt: skip
                effects = node.core.charge(
                    self.progress.charge_token, body, self.group.local(event.node)
                )
                self.group._apply(event.node, effects)

            return ask

        for i in range(event.count):
            self.group.schedule(i * gap, request(i))
        self._note(
            "scenario", event.node, f"{event.count} charging requests over {event.over_s:g} s"
        )

    # -- records ----------------------------------------------------------------------------------

    def _sample(self, t: float) -> None:
        group = self.group
        rows = []
        unbalanced = False
        for node_id, node in group.nodes.items():
            plant = node.plant
            assert isinstance(plant, NodePlant)
            plant.advance(group.now)
            lb = node.core.lb
            gateway, ng = plant.gateway, plant.net_generation
            up = not node.down
            if up and abs(gateway - ng) > self.band + 1e-9:
                unbalanced = True
            seen = (lb.group_id, lb.leader)
            if up and self.progress.groups.get(node_id, seen) != seen:
                self.progress.elections += 1
                self._note("group", node_id, f"group {lb.group_id or '-'} led by {lb.leader}")
            self.progress.groups[node_id] = seen
            rows.append(
                NodeSample(
                    node=node_id,
                    feeder=self.scenario.feeder_of.get(node_id, ""),
                    up=up,
                    state=lb.state,
                    gateway=gateway,
                    net_generation=ng,
                    predicted=lb.predicted,
                    pstar=plant.pstar,
                    storage=plant.storage_setpoint,
                    group=lb.group_id,
                    leader=lb.leader,
                    k=lb.k,
                )
            )
        if unbalanced:
            self.progress.unbalanced_at = t
        self.sink(
            Sample(t, tuple(rows), self.shared.frequency(), self.migrations(), self.messages())
        )

    def _count_answers(self, answers: Iterable[Answer]) -> None:
        for answer in answers:
            key = str(answer.status)
            self.progress.answered[key] = self.progress.answered.get(key, 0) + 1

    def charging(self) -> dict[str, int]:
        """The charging requests asked and their answers so far, by status."""
        counts = dict(self.progress.answered)
        for node in self.group.nodes.values():
            for answer in node.answers.values():
                counts[str(answer.status)] = counts.get(str(answer.status), 0) + 1
        if self.progress.charge_token:
            counts["asked"] = self.progress.charge_token
        return dict(sorted(counts.items()))

    def migrations(self) -> int:
        before = sum(self.progress.migrations_before.values())
        return before + sum(n.core.lb.migrations_out for n in self.group.nodes.values())

    def messages(self) -> int:
        return self.group.network.stats["sent"]

    def _summary(self, wall_s: float) -> Summary:
        header, group = self.scenario.header, self.group
        up = [n for n in group.nodes.values() if not n.down]
        errors = [n.plant.gateway - n.plant.net_generation for n in up]
        kind, _ = ACTUATORS[self.site.algorithm.actuation]
        held = group.setpoint_sum_change() - self.progress.external
        beliefs = all(
            abs(n.core.lb.ledger.command - n.plant.pstar) <= 1e-6 for n in up if kind == "Sst"
        )
        last_bad = self.progress.unbalanced_at  # None: every sample was balanced
        converged = last_bad is None or last_bad < header.duration_s
        convergence_s = 0.0 if last_bad is None else last_bad + header.sample_s
        rounds = max(1.0, header.duration_s / self.round_s)
        return Summary(
            scenario=header.name,
            seed=header.seed,
            nodes=len(group.nodes),
            feeders=len(self.scenario.feeders),
            duration_s=header.duration_s,
            wall_s=wall_s,
            converged=converged,
            convergence_s=convergence_s if converged else None,
            final_spread=(max(errors) - min(errors)) if errors else 0.0,
            residual=sum(abs(e) for e in errors),
            setpoint_sum_change=held,
            migrations=self.migrations(),
            messages=self.messages(),
            messages_per_node_round=self.messages() / len(group.nodes) / rounds,
            elections=self.progress.elections,
            invariant_checks={
                "conservation": abs(held) <= 1e-6 * max(1, len(group.nodes)),
                "beliefs_match_devices": beliefs,
            },
            charging=self.charging(),
        )


def _what(event: LoadEvent | GenerationEvent) -> str:
    return f"{event.kw:g} kW" if event.kw is not None else "follows a profile"
