"""A scenario file (``dgi sim SCENARIO.toml``): the site, the network, timed events.

::

    site = "../config/examples/three-substations.toml"   # relative to this file, or:
    # [generate]  nodes = 1000, feeders = 40, load_kw = { min = 10, max = 30 } ...
    [scenario]
    name = "hil-2012"
    duration_s = 60.0
    seed = 1

    [network]            # controller.peer.transport.Faults, same names
    drop = 0.01
    [[network.links]]    # a lossy link (1.0: down)
    a = "sst1"
    b = "sst2"
    drop = 0.5

    [[events]]
    at_s = 10.0
    kind = "crash"
    node = "sst2"

Checked like a site file (:mod:`config.loader`): the shape by pydantic, then every reference
against the site — a node, Fid or feeder an event names must exist, a load step needs a Load
device, a restart an earlier crash — and every problem is listed at once as
``scenario.toml:LINE: events[3].node = 'sst9': no such node; nodes: sst1, sst2, sst3``. A
site file's own problems are listed as they are for ``dgi run``.

The result, a :class:`Scenario`, carries the resolved :class:`~config.site.Site` (its
``[algorithm] mode`` replaced by ``[scenario] mode`` when given), the feeders (the
topology's connected components, ``f01``, ``f02``, ... in the order of their first node;
one feeder of every node when the site has no topology), the events in time order (stable:
two at one instant apply in file order) and the network's faults. It reads files (the site,
its profiles, a topology): not a pure module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from config.errors import ConfigError, ConfigIssue, display_path, format_path
from config.loader import load_site
from config.schema import issues_from
from config.site import Site
from config.tomlfile import locate, read_toml
from config.topology import DATAGRAM_BYTES, Topology, collected_bytes, read_topology
from controller.peer.transport import Faults
from controller.sim.events import (
    EVENT_KINDS,
    CrashEvent,
    EvArrivalsEvent,
    FidCloseEvent,
    FidOpenEvent,
    GatewaySetpointEvent,
    GenerationEvent,
    LinkLossEvent,
    LoadEvent,
    PartitionEvent,
    RestartEvent,
    ScenarioEvent,
)
from controller.sim.generate import feeder_names, feeder_sizes, generate_site
from controller.sim.schema import (
    GenerateSettings,
    Loc,
    Mode,
    NetworkSettings,
    ScenarioDocument,
    ScenarioHeader,
)

_NEEDS_DEVICE = {LoadEvent: "Load", GenerationEvent: "Drer", GatewaySetpointEvent: "Sst"}


@dataclass(frozen=True)
class Scenario:
    """A checked scenario, ready for the engine."""

    path: str
    header: ScenarioHeader
    site: Site
    feeders: Mapping[str, tuple[str, ...]]  # feeder -> its nodes, in site order
    network: NetworkSettings
    events: tuple[ScenarioEvent, ...]  # in time order, stable
    generated: bool  # the site came from [generate]
    feeder_of: Mapping[str, str] = field(default_factory=dict)  # node -> its feeder

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def duration_s(self) -> float:
        return self.header.duration_s

    @property
    def seed(self) -> int:
        return self.header.seed

    @property
    def sample_s(self) -> float:
        return self.header.sample_s

    @property
    def full_wire(self) -> bool:
        return self.header.full_wire

    @property
    def tiers(self) -> bool:
        return self.header.tiers

    @property
    def mode(self) -> Mode:
        """The load-balancing mode in force (the site's, after ``[scenario] mode``)."""
        return self.site.algorithm.mode

    def faults(self) -> Faults:
        """The network's faults at the start (a new object each call)."""
        return self.network.faults()

    def with_mode(self, mode: Mode) -> Scenario:
        """The scenario with ``mode`` in force, as if its ``[scenario]`` said so
        (``dgi sim --mode``)."""
        algorithm = self.site.algorithm.model_copy(update={"mode": mode})
        document = self.site.document.model_copy(update={"algorithm": algorithm})
        return dataclasses.replace(
            self,
            header=self.header.model_copy(update={"mode": mode}),
            site=dataclasses.replace(self.site, document=document),
        )


def load_scenario(path: Path | str) -> tuple[Scenario | None, list[ConfigIssue]]:
    """Read and check a scenario file: the scenario, or None and every problem found."""
    scenario_path = Path(path)
    raw, text, issues = read_toml(scenario_path)
    if raw is None:
        return None, issues
    checker = _ScenarioChecker(scenario_path, text)
    scenario = checker.check(raw)
    return (None, checker.issues) if checker.issues else (scenario, [])


def few(ids: Iterable[str], limit: int = 5) -> str:
    """``a, b, c, d, e, ... (40 in all)``: a few valid ids for a message."""
    shown = list(ids)
    text = ", ".join(shown[:limit])
    return text + (f", ... ({len(shown)} in all)" if len(shown) > limit else "") if text else "none"


def feeders_of(site: Site) -> dict[str, tuple[str, ...]]:
    """The site's feeders: its topology's connected components, named ``f01``, ``f02``, ...
    in the order of their first node; without a topology, one feeder of every node."""
    nodes = [node.id for node in site.nodes]
    topology = site.topology
    if topology is None:
        return {feeder_names(1)[0]: tuple(nodes)}
    root = _components(topology)
    cells: dict[str, list[str]] = {}
    for node in nodes:
        cells.setdefault(root(topology.vertex_of[node]), []).append(node)
    return dict(zip(feeder_names(len(cells)), map(tuple, cells.values()), strict=True))


def _components(topology: Topology) -> Any:
    parent: dict[str, str] = {}

    def root(vertex: str) -> str:
        parent.setdefault(vertex, vertex)
        while parent[vertex] != vertex:
            parent[vertex] = parent[parent[vertex]]
            vertex = parent[vertex]
        return vertex

    for a, b in topology.edges:
        parent[root(a)] = root(b)
    return root


@dataclass
class _ScenarioChecker:
    path: Path
    text: str
    issues: list[ConfigIssue] = field(default_factory=list)

    @property
    def shown(self) -> str:
        return display_path(self.path)

    def add(self, loc: Loc, rule: str, *value: object) -> None:
        shown = {"value": value[0]} if value else {}
        line = locate(self.text, loc) if loc else None
        self.issues.append(ConfigIssue(self.shown, format_path(loc), rule, line=line, **shown))

    def _validate(self, model: type[BaseModel], data: object, loc: Loc) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self.issues += issues_from(
                exc, model=model, file=self.shown, text=self.text, prefix=loc
            )
            return None

    def check(self, raw: dict[str, Any]) -> Scenario | None:
        document: ScenarioDocument | None = self._validate(ScenarioDocument, raw, ())
        events = self._events(raw)
        if document is None:
            return None
        site = self._site(document)
        if site is None:
            return None
        header = document.scenario
        overrides = {k: v for k, v in (("mode", header.mode), ("reconcile", header.reconcile)) if v}
        if overrides:
            algorithm = site.algorithm.model_copy(update=overrides)
            update = {"algorithm": algorithm}
            site = dataclasses.replace(site, document=site.document.model_copy(update=update))
        feeders = self._feeders(site, document)
        for name, members in feeders.items():
            if collected_bytes(members) > DATAGRAM_BYTES:
                where = ("generate", "feeders") if document.generate is not None else ("site",)
                self.add(where, f"feeder {name} has {len(members)} nodes: one group's collected "
                         f"state (about {collected_bytes(members)} bytes) does not fit one "
                         f"datagram ({DATAGRAM_BYTES}); use more feeders")  # fmt: skip
        refs = _References(site, feeders)
        for index, link in enumerate(document.network.links):
            self._link(("network", "links", index), link.a, link.b, refs)
        resolved = [
            (loc, self._event(loc, event, refs, document.scenario.duration_s))
            for loc, event in events
        ]
        ordered = sorted(resolved, key=lambda item: item[1].at_s)
        self._crashes(ordered, refs.nodes)
        feeder_of = {node: name for name, nodes in feeders.items() for node in nodes}
        return Scenario(
            self.shown,
            document.scenario,
            site,
            feeders,
            document.network,
            tuple(event for _, event in ordered),
            document.generate is not None,
            feeder_of,
        )

    # -- the site -------------------------------------------------------------------------------

    def _site(self, document: ScenarioDocument) -> Site | None:
        if document.site is not None and document.generate is not None:
            self.add(("generate",), 'give site = "FILE" or a [generate] table, not both')
            return None
        if document.generate is not None:
            if document.topology is not None:
                rule = "a generated site has its own topology (one chain per feeder)"
                self.add(("topology",), rule, document.topology)
                return None
            return self._generated(document.generate, document.scenario)
        if document.site is None:
            self.add(("site",), 'required: site = "FILE" (the site file) or a [generate] table')
            return None
        path = self._relative(document.site)
        if not path.is_file():
            self.add(("site",), f"site file not found: {display_path(path)}", document.site)
            return None
        try:
            site = load_site(path)
        except ConfigError as exc:
            self.issues += exc.issues
            return None
        return self._topology(site, document.topology)

    def _generated(self, settings: GenerateSettings, header: ScenarioHeader) -> Site:
        return generate_site(
            settings.nodes,
            settings.feeders,
            seed=header.seed,
            gateway=settings.gateway_kw.span,
            generation=settings.generation_kw.span,
            load=settings.load_kw.span,
            timings=settings.timings,
            mode=settings.mode,
            name=header.name,
            capacity_kw=settings.capacity_kw,
            lag_s=settings.lag_s,
            storage_kwh=settings.storage_kwh,
            chargers=settings.chargers,
            balance=settings.balance,
        )

    def _topology(self, site: Site, name: str | None) -> Site | None:
        """``topology = "FILE"``: the site's topology for this scenario (it replaces the one
        the site names)."""
        if name is None:
            return site
        if site.algorithm.group_management != "election":
            rule = (
                'a topology filters group management: the site needs group_management = "election"'
            )
            self.add(("topology",), rule, name)
        path = self._relative(name)
        if not path.is_file():
            self.add(("topology",), f"topology file not found: {display_path(path)}", name)
            return None
        devices = {d.id: (d.type, d.node_id) for d in site.devices}
        topology, issues = read_topology(path, [n.id for n in site.nodes], devices)
        self.issues += issues
        return None if topology is None else dataclasses.replace(site, topology=topology)

    def _relative(self, name: str) -> Path:
        path = Path(name)
        return path if path.is_absolute() else self.path.parent / path

    def _feeders(self, site: Site, document: ScenarioDocument) -> dict[str, tuple[str, ...]]:
        if document.generate is None:
            return feeders_of(site)
        sizes = feeder_sizes(document.generate.nodes, document.generate.feeders)
        nodes = iter(node.id for node in site.nodes)
        names = feeder_names(document.generate.feeders)
        return {
            name: tuple(next(nodes) for _ in range(size))
            for name, size in zip(names, sizes, strict=True)
        }

    # -- events ---------------------------------------------------------------------------------

    def _events(self, raw: dict[str, Any]) -> list[tuple[Loc, ScenarioEvent]]:
        """Each ``[[events]]`` table by its kind; checked even when the rest has errors."""
        found = []
        tables = raw.get("events")
        for index, table in enumerate(tables if isinstance(tables, list) else []):
            loc: Loc = ("events", index)
            if not isinstance(table, dict):
                continue  # the document's shape reports it
            kind = table.get("kind")
            model = EVENT_KINDS.get(kind) if isinstance(kind, str) else None
            if model is None:
                kinds = f"kinds: {', '.join(EVENT_KINDS)}"
                if kind is None:
                    self.add((*loc, "kind"), f"required key missing; {kinds}")
                else:
                    self.add((*loc, "kind"), f"unknown event kind; {kinds}", kind)
                continue
            event = self._validate(model, table, loc)
            if event is not None:
                found.append((loc, event))
        return found

    def _event(
        self, loc: Loc, event: ScenarioEvent, refs: _References, duration_s: float
    ) -> ScenarioEvent:
        if event.at_s > duration_s:
            rule = f"must be within the scenario (0..duration_s = {duration_s})"
            self.add((*loc, "at_s"), rule, event.at_s)
        node = getattr(event, "node", None)
        if isinstance(node, str) and self._node((*loc, "node"), node, refs):
            needed = _NEEDS_DEVICE.get(type(event))
            if needed is not None and needed not in refs.types_of[node]:
                rule = f"node {node} has no {needed} device (a {event.kind} event sets its value)"
                self.add((*loc, "node"), rule, node)
        if isinstance(event, EvArrivalsEvent) and not refs.site.ev.enabled:
            self.add((*loc, "kind"), "the site's [ev] enabled = false", event.kind)
        if isinstance(event, FidOpenEvent | FidCloseEvent):
            self._fid((*loc, "fid"), event.fid, refs)
        if isinstance(event, LinkLossEvent):
            self._link(loc, event.a, event.b, refs)
        if isinstance(event, PartitionEvent):
            return self._partition(loc, event, refs)
        return event

    def _node(self, loc: Loc, node: str, refs: _References) -> bool:
        if node in refs.types_of:
            return True
        self.add(loc, f"no such node in the site; nodes: {few(refs.nodes)}", node)
        return False

    def _fid(self, loc: Loc, fid: str, refs: _References) -> None:
        kind = refs.device_type.get(fid)
        if kind is None:
            self.add(loc, f"no such Fid in the site; Fids: {few(refs.fids)}", fid)
        elif kind != "Fid":
            self.add(loc, f"device {fid} is a {kind}, not a Fid; Fids: {few(refs.fids)}", fid)

    def _link(self, loc: Loc, a: str, b: str, refs: _References) -> None:
        ok = self._node((*loc, "a"), a, refs) & self._node((*loc, "b"), b, refs)
        if ok and a == b:
            self.add((*loc, "b"), "a link joins two different nodes", b)

    def _partition(self, loc: Loc, event: PartitionEvent, refs: _References) -> PartitionEvent:
        groups: list[list[str]] = []
        for index, name in enumerate(event.feeders or []):
            if name not in refs.feeders:
                rule = f"no such feeder; feeders: {few(refs.feeders)}"
                self.add((*loc, "feeders", index), rule, name)
            groups.append(list(refs.feeders.get(name, ())))
        seen: dict[str, int] = {}
        for g, group in enumerate(event.groups or []):
            for n, node in enumerate(group):
                where: Loc = (*loc, "groups", g, n)
                if self._node(where, node, refs) and node in seen:
                    self.add(where, f"node already in group {seen[node]}", node)
                seen.setdefault(node, g)
            groups.append(list(group))
        taken = {node for group in groups for node in group}
        rest = [node for node in refs.nodes if node not in taken]
        cells = [group for group in groups if group] + ([rest] if rest else [])
        return event.model_copy(update={"groups": cells})

    def _crashes(self, ordered: Sequence[tuple[Loc, ScenarioEvent]], nodes: Sequence[str]) -> None:
        """A crash needs the node up, a restart needs it crashed before."""
        down: dict[str, float] = {}
        for loc, event in ordered:
            if isinstance(event, CrashEvent) and event.node in down:
                rule = f"node {event.node} is down already (crashed at {down[event.node]} s)"
                self.add((*loc, "node"), rule, event.node)
            elif isinstance(event, CrashEvent):
                down[event.node] = event.at_s
            elif (
                isinstance(event, RestartEvent)
                and event.node in nodes
                and down.pop(event.node, None) is None
            ):
                rule = f"node {event.node} runs: a restart needs an earlier crash"
                self.add((*loc, "node"), rule, event.node)


@dataclass
class _References:
    """What events may name: the site's nodes, devices and feeders."""

    site: Site
    feeders: Mapping[str, tuple[str, ...]]

    def __post_init__(self) -> None:
        self.nodes = [node.id for node in self.site.nodes]
        self.types_of: dict[str, set[str]] = {node: set() for node in self.nodes}
        self.device_type: dict[str, str] = {}
        for device in self.site.devices:
            self.types_of[device.node_id].add(device.type)
            self.device_type[device.id] = device.type
        self.fids = [d for d, kind in self.device_type.items() if kind == "Fid"]
