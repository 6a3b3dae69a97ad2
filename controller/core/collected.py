"""What state collection gives the node: the group's state as its leader collected it (pure).

One shape, read by the load balancer (its synchronisation, the peers' views, the residual),
the API (``/api/v1/status``'s ``state_collection``, ``/api/v1/peers``) and the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class MemberState:
    """What one node recorded of itself for a snapshot.

    ``gateway`` is None for a node without an Sst: it contributes nothing to ``K`` (and,
    unlike FREEDM's collector, erases nothing). ``in_transit`` is the power of the
    migrations in the node's channels: draft messages that carry an amount and had arrived
    after its LB phase ended, kept for its next LB phase (``in_transit_count`` of them).
    The ``ev_`` figures are its EV charging view (:class:`controller.ev.rules.View`).
    """

    state: str
    gateway: float | None
    net_generation: float
    predicted: float
    in_transit: float = 0.0
    in_transit_count: int = 0
    # EV charging (controller.ev): capacity (0: none), load, base-load trend, when measured
    ev_capacity_kw: float = 0.0
    ev_load_kw: float = 0.0
    ev_trend: float = 0.0
    ev_at: float = 0.0


@dataclass(frozen=True)
class Collected:
    """The state of the group ``group_id`` collected by ``leader`` in snapshot ``snapshot``.

    ``members`` holds every node that answered (the leader included); ``missing`` those
    that did not within the time-out. ``received`` is when this node got it (its own clock);
    ``took_s`` how long the leader took from its marker to the last answer or the time-out.
    """

    snapshot: int
    group_id: str
    leader: str
    members: Mapping[str, MemberState]
    missing: tuple[str, ...]
    received: float
    took_s: float

    @property
    def k(self) -> float:
        """The gross power flow: the sum of the collected Sst gateways."""
        return sum(m.gateway for m in self.members.values() if m.gateway is not None)

    @property
    def in_transit(self) -> float:
        return sum(m.in_transit for m in self.members.values())
