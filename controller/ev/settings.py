"""The EV module's settings: the site's ``[ev]`` table and this node's charging capacity (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from controller.ev.rules import Defaults


@dataclass(frozen=True)
class EvSettings:
    capacity_kw: float
    defaults: Defaults = field(default_factory=Defaults)
    hold_s: float = 5.0  # how long a target holds an admission for its entry's confirmation
    timeout_s: float = 2.0  # an entry node's wait for a target's answer
    count_base_load: bool = False  # the substation's other load counts against the capacity
    fresh_s: float = 10.0  # a node heard from this recently is a candidate, in the group or not
    predictive: bool = False  # route by the load predicted over the session
    trend_tau_s: float = 60.0
