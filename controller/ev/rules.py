"""EV charging requests and sessions, and the admission rules (pure: values and ``now`` in).

A request asks for ``power_kw`` for ``duration_s`` (given, or the time ``energy_kwh`` takes at
that power). A substation takes it when its EV sessions, its other load and the request stay
within its capacity; it may grant less than asked — down to ``min_power_kw`` — rather than
refuse. The entry node ranks the substations by **headroom**: capacity − load − the power it
has itself reserved there and not yet heard back about, highest first, ties by node id; so a
burst spreads over the substations at once instead of herding onto the one that looked
emptiest at the last update.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: A request whose ``ev_id`` is absent gets one; ids are at most this long.
MAX_ID = 64
EPS_KW = 1e-9


def valid_ev_id(ev_id: str) -> bool:
    return 0 < len(ev_id) <= MAX_ID and ev_id.isprintable()


class RequestError(ValueError):
    """A request field that is not acceptable: ``field`` names it."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


@dataclass(frozen=True)
class Defaults:
    """What a request that leaves a field out gets (the site's ``[ev]`` settings)."""

    power_kw: float = 7.0
    duration_s: float = 3600.0
    min_power_kw: float = 1.4  # the least a charger can usefully draw (6 A at 230 V)
    max_power_kw: float = 350.0
    max_duration_s: float = 86_400.0


@dataclass(frozen=True)
class ChargeRequest:
    ev_id: str
    power_kw: float
    duration_s: float
    priority: int = 0

    @classmethod
    def of(
        cls,
        *,
        ev_id: str,
        power_kw: float | None = None,
        energy_kwh: float | None = None,
        duration_s: float | None = None,
        priority: int = 0,
        defaults: Defaults = Defaults(),
    ) -> ChargeRequest:
        """A request from its (optional) fields; :class:`RequestError` names the bad one."""
        if not valid_ev_id(ev_id):
            raise RequestError("ev_id", f"1 to {MAX_ID} printable characters")
        power = defaults.power_kw if power_kw is None else power_kw
        if not (math.isfinite(power) and defaults.min_power_kw <= power <= defaults.max_power_kw):
            raise RequestError(
                "power_kw", f"a number from {defaults.min_power_kw:g} to {defaults.max_power_kw:g}"
            )
        if energy_kwh is not None and duration_s is not None:
            raise RequestError("energy_kwh", "give energy_kwh or duration_s, not both")
        if energy_kwh is not None:
            if not (math.isfinite(energy_kwh) and energy_kwh > 0):
                raise RequestError("energy_kwh", "a positive number")
            duration = energy_kwh / power * 3600.0
        else:
            duration = defaults.duration_s if duration_s is None else duration_s
        if not (math.isfinite(duration) and 0 < duration <= defaults.max_duration_s):
            field = "energy_kwh" if energy_kwh is not None else "duration_s"
            raise RequestError(field, f"a session of more than 0 s and at most "
                               f"{defaults.max_duration_s:g} s")  # fmt: skip
        if not -10 <= priority <= 10:
            raise RequestError("priority", "an integer from -10 to 10")
        return cls(ev_id, power, duration, priority)


@dataclass(frozen=True)
class Session:
    """An admitted request: ``granted_kw`` at ``node`` from ``started`` until ``ends``."""

    id: str
    ev_id: str
    node: str
    granted_kw: float
    started: float
    ends: float

    def active(self, now: float) -> bool:
        return self.started <= now < self.ends


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after_s: float


def grant(request: ChargeRequest, free_kw: float, defaults: Defaults) -> float | None:
    """What a substation with ``free_kw`` left grants: what is asked, or less down to the
    least useful power, or nothing (None)."""
    if free_kw + EPS_KW >= request.power_kw:
        return request.power_kw
    if free_kw + EPS_KW >= defaults.min_power_kw:
        return max(defaults.min_power_kw, free_kw)
    return None


@dataclass(frozen=True)
class View:
    """What the entry node knows of a substation: its capacity and load (kW) as last told."""

    node: str
    capacity_kw: float
    load_kw: float


def headroom(view: View, reserved_kw: float) -> float:
    return view.capacity_kw - view.load_kw - reserved_kw


def ranked(
    views: Iterable[View], reserved: Mapping[str, float], *, exclude: Iterable[str] = ()
) -> list[str]:
    """The substations to try, most headroom first (ties: the lowest node id)."""
    left = set(exclude)
    order = [v for v in views if v.node not in left]
    order.sort(key=lambda v: (-headroom(v, reserved.get(v.node, 0.0)), v.node))
    return [v.node for v in order]
