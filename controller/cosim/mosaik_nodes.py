"""The nodes side of a mosaik co-simulation (pure).

:class:`NodesSide` is a group of a site's nodes — the same cores ``dgi run`` builds, on the
in-memory peer network of :class:`~controller.virtual.group.VirtualGroup` — around
:class:`~controller.cosim.external.ExternalPlant`\\ s: their devices are what the plant
simulator reports. A step at plant time ``t`` that lasts until ``t_next``:

1. every input is reported to its node's external plant, sampled at ``t``;
2. the group runs until ``t_next`` (its rounds read those values; the first step builds
   the group, so each node starts from the setpoint its device holds);
3. what the actuators wrote meanwhile is the step's output (``c_set``; the newest write
   per device, ``None`` when there was none), which the plant applies at ``t_next``: the
   nodes → plant connection is the time-shifted one of the cycle.

The nodes of one side know only each other (their feeder): a node of another side is on
another in-memory network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from config.site import Device, Site
from controller.assembly import CoreSpec
from controller.cosim.external import ExternalPlant
from controller.cosim.mosaik_model import NODE_EPOCH, SET, Inputs, number, port, single
from controller.virtual.group import TEST_KEYRING, VirtualGroup


class NodesSide:
    """The nodes ``members`` of ``site`` (default: every node) stepped by mosaik."""

    def __init__(self, site: Site, members: Sequence[str] | None = None, *, seed: int = 0) -> None:
        known = [n.id for n in site.nodes]
        self.members = sorted(members) if members else known
        unknown = sorted(set(self.members) - set(known))
        if unknown:
            raise KeyError(f"site {site.name} has no node {', '.join(unknown)}; its nodes: "
                           f"{', '.join(known)}")  # fmt: skip
        self.site = site
        self.seed = seed
        actuation = site.algorithm.actuation
        self.plants = {n: ExternalPlant(list(site.devices_of(n)), actuation) for n in self.members}
        self.devices: dict[str, Device] = {
            d.id: d for plant in self.plants.values() for d in plant.devices
        }
        self.group: VirtualGroup | None = None
        self.pending: dict[str, dict[str, float]] = {}  # this step's writes: eid -> attr
        self.sent: list[tuple[float, str, str, float]] = []  # (t, device, signal, value)
        self.now = 0.0

    def _build(self, t: float) -> VirtualGroup:
        specs: dict[str, CoreSpec] = {}
        everyone = len(self.members) == len(self.site.nodes)
        topology = self.site.topology
        if topology is not None and not everyone:
            topology = topology.around(self.members)
        for index, node in enumerate(self.site.nodes):
            if node.id not in self.plants:
                continue
            spec = CoreSpec.of_site(self.site, node.id, TEST_KEYRING, epoch=index + 1)
            if not everyone:
                spec = replace(spec, nodes=tuple(self.members), topology=topology)
            specs[node.id] = spec
        return VirtualGroup.assembled(
            specs, self.plants, self.site.timings, seed=self.seed, start=NODE_EPOCH + t
        )

    def step(self, t: float, until: float, inputs: Inputs) -> None:
        at = NODE_EPOCH + t
        for eid, attrs in inputs.items():
            device = self.device(eid)
            plant = self.plants[device.node_id]
            for attr, sources in attrs.items():
                value = number(eid, attr, single(eid, attr, sources))
                meant = port(device.type, attr)
                if meant.role == "state":
                    plant.report(eid, meant.signal, value, at)
                elif meant.role == "held":
                    plant.report_held(eid, meant.signal, value, at)
                else:
                    raise ValueError(f"{eid}.{attr} is the nodes' output, not an input")
        if self.group is None:
            self.group = self._build(t)
        self.group.run_until(NODE_EPOCH + until)
        self.now = until
        self.pending = {}
        for plant in self.plants.values():
            for eid, signal, value in plant.take_outbox():
                self.pending.setdefault(eid, {})[signal + SET] = value  # the newest wins
        for written, values in self.pending.items():
            for name, setpoint in values.items():
                self.sent.append((until, written, name.removesuffix(SET), setpoint))

    def device(self, eid: str) -> Device:
        device = self.devices.get(eid)
        if device is None:
            raise KeyError(f"nodes {', '.join(self.members)} have no device {eid!r}")
        return device

    def output(self, eid: str, attr: str) -> object:
        if eid in self.plants:
            return self._node(eid, attr)
        device = self.device(eid)
        if port(device.type, attr).role != "set":
            raise ValueError(f"{eid}.{attr} is an input of the nodes, not an output")
        return self.pending.get(eid, {}).get(attr)

    def _node(self, node_id: str, attr: str) -> object:
        plant = self.plants[node_id]
        if attr == "G":
            return plant.gateway
        if attr == "NG":
            return plant.net_generation
        if attr == "pstar":
            return plant.pstar
        if self.group is None:
            return None
        lb = self.group.nodes[node_id].core.lb
        return {"state": lb.state, "migrations": lb.migrations_out}[attr]

    def outputs(self, wanted: Mapping[str, Sequence[str]]) -> dict[str, dict[str, object]]:
        return {eid: {a: self.output(eid, a) for a in attrs} for eid, attrs in wanted.items()}

    def migrations(self) -> int:
        if self.group is None:
            return 0
        return sum(n.core.lb.migrations_out for n in self.group.nodes.values())

    def summary(self) -> dict[str, object]:
        """What a run ends with, JSON-ready: per node what it believes (its last reported
        gateway and net generation, its state), the writes sent, the migrations."""
        nodes = {
            n: {a: self._node(n, a) for a in ("G", "NG", "pstar", "state")} for n in self.members
        }
        return {
            "time": self.now,
            "nodes": nodes,
            "migrations": self.migrations(),
            "sent": [list(s) for s in self.sent],
        }
