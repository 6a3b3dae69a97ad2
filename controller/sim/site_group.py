"""A site's nodes in virtual time: each with the core ``dgi run`` builds for it, knowing only its
feeder (and its feeder's part of the topology), tier 2 between feeders when asked, around the
simulators' plant of every device of the site (:mod:`controller.sim.node_plant`, which reads
the site's series files: that is why this is not part of the pure
:mod:`controller.virtual.group`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from config.site import Site
from config.topology import Topology
from controller.assembly import CoreSpec
from controller.lb.tier import feeder_anchors
from controller.peer.transport import Faults
from controller.sim.node_plant import NodePlant, SharedPlant
from controller.virtual.group import INSTANT, TEST_KEYRING, DeviceTiming, VirtualGroup


def site_group(
    site: Site,
    *,
    members: Mapping[str, Sequence[str]] | None = None,
    seed: int = 0,
    faults: Faults | None = None,
    start: float = 1_000_000.0,
    devices: DeviceTiming = INSTANT,
    clock_offsets: Mapping[str, float] | None = None,
    full_wire: bool = False,
    anchors: int = 0,
) -> VirtualGroup:
    """The nodes of ``site`` (its plant: the group's ``shared``). ``members``: the nodes each
    node knows (its feeder; default every node of the site); ``anchors`` > 0 with
    ``members``: tier 2 between the feeders, with that many anchors each."""
    shared = SharedPlant(site, start)
    specs: dict[str, CoreSpec] = {}
    plants: dict[str, NodePlant] = {}
    feeders = sorted({tuple(sorted(m)) for m in members.values()}) if members else []
    tier = feeder_anchors(feeders, anchors) if members is not None and anchors else ()
    parts: dict[tuple[str, ...], Topology] = {}  # each feeder's part of the topology
    for index, node in enumerate(site.nodes):
        spec = CoreSpec.of_site(site, node.id, TEST_KEYRING, epoch=index + 1)
        if members is not None:
            known = tuple(members[node.id])
            if known not in parts and site.topology is not None:
                parts[known] = site.topology.around(known)
            spec = replace(spec, nodes=known, topology=parts.get(known))
        if tier:
            spec = replace(spec, tier_peers=tier)
        specs[node.id] = spec
        plants[node.id] = shared.node(node.id, site.algorithm.actuation)
    return VirtualGroup.assembled(
        specs,
        plants,
        site.timings,
        seed=seed,
        faults=faults,
        start=start,
        devices=devices,
        clock_offsets=clock_offsets,
        full_wire=full_wire,
        shared=shared,
    )
