"""The one place a node core is put together: its wire, its modules and its group (pure).

The runtime (``dgi run``, ``dgi demo``), virtual time and the benchmarks all build their cores
here, so a node is the same node wherever it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from config.site import Site
from config.topology import Topology
from controller.core.group import Group
from controller.core.messages import Limits
from controller.core.node_core import NodeCore
from controller.ev.module import EvModule
from controller.ev.rules import Defaults
from controller.ev.settings import EvSettings
from controller.gm.core import GroupManager
from controller.gm.settings import GmSettings
from controller.lb.core import LoadBalancer
from controller.lb.settings import LbSettings
from controller.peer.keys import Keyring
from controller.peer.wire import Wire
from controller.sc.core import ScSettings, StateCollector


@dataclass(frozen=True)
class CoreSpec:
    """What a node core is made of: who it is, the site's nodes, the algorithm's settings,
    the group key, its boot epoch (ms), the site name its datagrams carry, their TTL; and
    whether it seals its messages (the wire) or posts them (``plain``: virtual time only,
    :mod:`controller.peer.posted`)."""

    node_id: str
    nodes: Sequence[str]
    settings: LbSettings
    keyring: Keyring
    epoch: int
    site_name: str = "site"
    ttl_ms: int = 1000
    gm: GmSettings | None = None  # group management; None: the static group
    sc: ScSettings = field(default_factory=ScSettings)
    topology: Topology | None = None  # the physical topology group management respects
    ev: EvSettings | None = None  # EV charging; None: no charging requests or sessions
    plain: bool = False  # post messages unsealed (virtual time's plain channel); False: the wire
    # tier 2 (controller.lb.tier): the site's feeder anchors, the same list on every node
    # (``controller.lb.tier.feeder_anchors``): the other feeders' are the only nodes outside
    # ``nodes`` it may talk to, and only its load balancer; empty: one tier, as before
    tier_peers: Sequence[str] = ()

    @classmethod
    def of_site(cls, site: Site, node_id: str, keyring: Keyring, *, epoch: int) -> CoreSpec:
        return cls(
            node_id,
            [n.id for n in site.nodes],
            LbSettings.from_site(site.algorithm, site.timings),
            keyring,
            epoch,
            site.name,
            site.timings.CSRC_DEFAULT_TIMEOUT,
            GmSettings.from_timings(site.timings)
            if site.algorithm.group_management == "election"
            else None,
            ScSettings.from_timings(site.timings),
            topology=site.topology,
            ev=ev_settings(site, node_id),
        )


def assemble(spec: CoreSpec) -> NodeCore:
    """A node core with its modules: state collection and load balancing, and group
    management (``spec.gm``), with which a node starts as a group of one and the election
    forms the groups; without it, its group is every node of the site, led by the lowest id.
    With ``spec.tier_peers`` the wire also hears those nodes and the load balancer transfers
    between feeders (adaptive mode only); group management and state collection never see
    them, so groups stay within ``spec.nodes``."""
    own = frozenset(spec.tier_peers) & {*spec.nodes, spec.node_id}
    tier = frozenset(spec.tier_peers) - own
    if spec.tier_peers and not spec.settings.adaptive:
        raise ValueError(
            f"{spec.node_id}: tier 2 needs adaptive mode's transactions, not mode "
            f"{spec.settings.mode!r}"
        )
    wire = Wire(
        spec.node_id,
        [*spec.nodes, *sorted(tier)],
        spec.keyring,
        epoch=spec.epoch,
        limits=Limits(spec.settings.max_amount),
        group=spec.site_name,
        ttl_ms=spec.ttl_ms,
    )
    lb = LoadBalancer(spec.node_id, spec.settings, epoch=spec.epoch)
    lb.tier_peers, lb.tier_anchors = tier, own
    sc = StateCollector(spec.node_id, spec.sc, epoch=spec.epoch)
    if spec.gm is None:
        core = NodeCore(lb, wire, Group.static(spec.nodes), {sc.name: sc})
    else:
        gm = GroupManager(
            spec.node_id, spec.nodes, spec.gm, epoch=spec.epoch, topology=spec.topology
        )
        core = NodeCore(lb, wire, gm.group, {gm.name: gm, sc.name: sc})
    core.plain = spec.plain
    if spec.ev is not None:
        ev = EvModule(spec.node_id, spec.ev, epoch=spec.epoch)
        core.modules[ev.name] = ev
        ev.group_changed(core.group, 0.0)
    sc.source = core.local_state
    return core


def ev_settings(site: Site, node_id: str) -> EvSettings | None:
    """The EV charging settings of node ``node_id`` (None when the site disables charging)."""
    ev = site.ev
    if not ev.enabled:
        return None
    node = site.node(node_id)
    return EvSettings(
        capacity_kw=node.ev_capacity_kw or node.capacity_kw,
        defaults=Defaults(
            ev.power_kw, ev.duration_s, ev.min_power_kw, ev.max_power_kw, ev.max_duration_s
        ),
        hold_s=ev.hold_s,
        timeout_s=ev.answer_timeout_s,
        count_base_load=ev.count_base_load,
        predictive=ev.routing == "predictive",
        # a group that flaps under load must not hide a substation that answered lately
        fresh_s=max(10.0, LbSettings.from_site(site.algorithm, site.timings).peer_stale_s),
        trend_tau_s=ev.trend_tau_s,
    )


def build_core(site: Site, node_id: str, keyring: Keyring, *, epoch: int) -> NodeCore:
    """The core of node ``node_id`` of ``site``."""
    return assemble(CoreSpec.of_site(site, node_id, keyring, epoch=epoch))
