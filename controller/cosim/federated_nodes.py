"""Some of a site's nodes in virtual time, their plant and their other peers elsewhere (pure).

A co-simulation federate runs several nodes: each the core ``dgi run`` builds for it
(:class:`controller.assembly.CoreSpec.of_site`, every federate with the same keyring so
their datagrams open), in a :class:`controller.virtual.group.VirtualGroup` around
:class:`controller.cosim.external.ExternalPlant`\\ s. The adapter (HELICS, mosaik) feeds it:

- :meth:`FederatedNodes.report` — a node's devices as the plant federate sampled them;
- :meth:`FederatedNodes.deliver` — a datagram that came for one of its nodes;
- :meth:`FederatedNodes.run_until` — the nodes' rounds, phases and timers up to a time;

and sends on what :meth:`take_writes` (each node's actuator writes) and :meth:`take_sent`
(datagrams for nodes of other federates) hand it. Datagrams between nodes of this federate
stay on the group's in-memory network; those for the site's other nodes are taken at the
network's edge (an endpoint per remote node that keeps what arrives for it). Every message is
a sealed datagram (``full_wire``): another federate's node opens it as it would from UDP.

A bad report or datagram is dropped and counted in :attr:`FederatedNodes.dropped`, not
raised: another process sent it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from config.site import Site
from controller.assembly import CoreSpec
from controller.cosim.external import ExternalPlant
from controller.cosim.helics_plan import StatesReport, Write
from controller.lb.tier import feeder_anchors
from controller.peer.keys import Keyring
from controller.virtual.group import TEST_KEYRING, VirtualGroup

START = 1_000_000.0  # the virtual time of plant time 0 (a cycle boundary, as in dgi sim)


class FederatedNodes:
    """``node_ids`` of ``site``; ``members``: the nodes each node knows (default: the site);
    ``anchors`` > 0 with ``members``: tier 2 between the feeders, that many anchors each (as
    ``dgi sim`` runs a scenario: :func:`controller.sim.site_group.site_group`)."""

    def __init__(
        self,
        site: Site,
        node_ids: Sequence[str],
        *,
        members: Mapping[str, Sequence[str]] | None = None,
        anchors: int = 0,
        keyring: Keyring = TEST_KEYRING,
        start: float = START,
    ) -> None:
        order = {n.id: i for i, n in enumerate(site.nodes)}
        unknown = [n for n in node_ids if n not in order]
        if unknown:
            raise ValueError(f"unknown node(s) {', '.join(unknown)} in {site.path}")
        self.start = start
        self.node_ids = list(node_ids)
        self.plants: dict[str, ExternalPlant] = {}
        specs: dict[str, CoreSpec] = {}
        feeders = sorted({tuple(sorted(m)) for m in members.values()}) if members else []
        tier = feeder_anchors(feeders, anchors) if members is not None and anchors else ()
        for node_id in self.node_ids:
            spec = CoreSpec.of_site(site, node_id, keyring, epoch=order[node_id] + 1)
            if members is not None:  # its feeder, and its feeder's part of the topology
                known = tuple(members[node_id])
                part = site.topology.around(known) if site.topology is not None else None
                spec = replace(spec, nodes=known, topology=part)
            if tier:
                spec = replace(spec, tier_peers=tier)
            specs[node_id] = spec
            devices = [d for d in site.devices if d.node_id == node_id and d.in_plant]
            self.plants[node_id] = ExternalPlant(devices, site.algorithm.actuation)
        self.group = VirtualGroup.assembled(
            specs, self.plants, site.timings, start=start, full_wire=True
        )
        self.sent: list[tuple[str, bytes]] = []  # (destination node, datagram)
        self.dropped: Counter[str] = Counter()
        self.received = 0
        for node in site.nodes:
            if node.id not in self.plants:
                self.group.network.endpoint(node.id, self._keeper(node.id))

    def _keeper(self, to: str) -> Callable[[object], None]:
        def keep(payload: object) -> None:
            if isinstance(payload, bytes):
                self.sent.append((to, payload))

        return keep

    # -- what the adapter feeds in ----------------------------------------------------------

    def report(self, node_id: str, report: StatesReport) -> None:
        """What the plant sampled of ``node_id``'s devices at plant time ``report.at``."""
        plant = self.plants.get(node_id)
        if plant is None:
            self.dropped["report for an unknown node"] += 1
            return
        at = self.start + report.at
        for source, put in ((report.states, plant.report), (report.held, plant.report_held)):
            for device, signals in source.items():
                for signal, value in signals.items():
                    try:
                        put(device, signal, value, at)
                    except KeyError:
                        self.dropped["report of an unknown device or signal"] += 1

    def deliver(self, node_id: str, datagram: bytes) -> None:
        """A datagram for ``node_id`` arrived now (its wire checks it, as from UDP)."""
        receiver = self.group.network.receivers.get(node_id)
        if receiver is None or node_id not in self.plants:
            self.dropped["datagram for a node not here"] += 1
            return
        self.received += 1
        receiver(datagram)

    def run_until(self, plant_time: float) -> None:
        self.group.run_until(self.start + plant_time)

    # -- what the adapter sends on ----------------------------------------------------------

    def take_writes(self) -> dict[str, list[Write]]:
        """Per node, its actuator's writes since the last call (nodes that wrote)."""
        writes = {n: p.take_outbox() for n, p in self.plants.items()}
        return {n: w for n, w in writes.items() if w}

    def take_sent(self) -> list[tuple[str, bytes]]:
        """The datagrams for other federates' nodes since the last call."""
        sent, self.sent = self.sent, []
        return sent

    def refused(self) -> int:
        """The datagrams the nodes' wires refused (bad, replayed, not for them...)."""
        return sum(
            count
            for node in self.group.nodes.values()
            for (_, reason), count in node.core.wire.stats.by_type.items()
            if reason != "accepted"
        )
