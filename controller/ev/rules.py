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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass

#: A request whose ``ev_id`` is absent gets one; ids are 1 to this many printable ASCII
#: characters.
MAX_ID = 64
#: No session is shorter (a request for a few joules still gets a session, however short).
MIN_SESSION_S = 0.001
#: No session lasts longer (a week: a fleet vehicle parked at a depot).
MAX_DURATION_S = 7 * 86_400.0
EPS_KW = 1e-9


def valid_ev_id(ev_id: str) -> bool:
    return 0 < len(ev_id) <= MAX_ID and all(" " <= c <= "~" for c in ev_id)


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
    max_duration_s: float = MAX_DURATION_S

    @property
    def max_energy_kwh(self) -> float:
        """The most energy a request may ask for: what the least power gives in the longest
        session (so every such request, at any power, fits in a session)."""
        return self.min_power_kw * self.max_duration_s / 3600.0


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
            raise RequestError("ev_id", f"1 to {MAX_ID} printable ASCII characters")
        power = defaults.power_kw if power_kw is None else power_kw
        if not (math.isfinite(power) and defaults.min_power_kw <= power <= defaults.max_power_kw):
            raise RequestError(
                "power_kw", f"a number from {defaults.min_power_kw:g} to {defaults.max_power_kw:g}"
            )
        if energy_kwh is not None and duration_s is not None:
            raise RequestError("energy_kwh", "give energy_kwh or duration_s, not both")
        if energy_kwh is not None:
            most = defaults.max_energy_kwh
            if not (math.isfinite(energy_kwh) and 0 < energy_kwh <= most):
                raise RequestError("energy_kwh", f"a number above 0 and at most {most:g}")
            duration = max(MIN_SESSION_S, energy_kwh / power * 3600.0)
        else:
            duration = defaults.duration_s if duration_s is None else duration_s
        if not (math.isfinite(duration) and 0 < duration <= defaults.max_duration_s):
            field = "energy_kwh" if energy_kwh is not None else "duration_s"
            raise RequestError(field, f"a session of more than 0 s and at most "
                               f"{defaults.max_duration_s:g} s")  # fmt: skip
        if not -10 <= priority <= 10:
            raise RequestError("priority", "an integer from -10 to 10")
        return cls(ev_id, power, duration, priority)


#: The fields a request body may carry (``energy_kwh`` or ``duration_s``, not both).
FIELDS = ("ev_id", "power_kw", "energy_kwh", "duration_s", "priority")


def _number(body: Mapping[str, object], name: str) -> float | None:
    if name not in body:
        return None
    value = body[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestError(name, "a number")
    return float(value)


def parse_request(
    body: Mapping[str, object] | None, defaults: Defaults, new_id: Callable[[], str]
) -> ChargeRequest:
    """A request from a JSON body (None or empty: every default; ``new_id`` names the EV
    when the body does not); :class:`RequestError` names the first bad field."""
    body = body or {}
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        raise RequestError(unknown[0], f"not a field of a charging request ({', '.join(FIELDS)})")
    ev_id = body.get("ev_id", "")
    if not isinstance(ev_id, str) or ("ev_id" in body and not valid_ev_id(ev_id)):
        raise RequestError("ev_id", f"a string of 1 to {MAX_ID} printable ASCII characters")
    priority = body.get("priority", 0)
    if isinstance(priority, float) and priority.is_integer():
        priority = int(priority)  # JSON has numbers, not integers: 10.0 is 10
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise RequestError("priority", "an integer from -10 to 10")
    return ChargeRequest.of(
        ev_id=ev_id or new_id(),
        power_kw=_number(body, "power_kw"),
        energy_kwh=_number(body, "energy_kwh"),
        duration_s=_number(body, "duration_s"),
        priority=priority,
        defaults=defaults,
    )


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{value!r} is not a number")
    return float(value)


def request_schema(d: Defaults) -> dict[str, object]:
    """The body of a charging request as JSON Schema, exactly as :func:`parse_request` judges
    it with the limits ``d``: every field optional, none null, energy_kwh or duration_s (the
    API's OpenAPI document shows it with the defaults)."""
    return {
        "title": "ChargeRequest",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "ev_id": {
                "type": "string",
                "pattern": f"^[ -~]{{1,{MAX_ID}}}$",
                "description": "idempotency key: the same ev_id gets the same answer",
            },
            "power_kw": {"type": "number", "minimum": d.min_power_kw,
                         "maximum": d.max_power_kw, "description": "default [ev] power_kw"},
            "energy_kwh": {"type": "number", "exclusiveMinimum": 0,
                           "maximum": d.max_energy_kwh, "description": "or duration_s"},
            "duration_s": {"type": "number", "exclusiveMinimum": 0,
                           "maximum": d.max_duration_s, "description": "or energy_kwh"},
            "priority": {"type": "integer", "minimum": -10, "maximum": 10},
        },
        "not": {"required": ["energy_kwh", "duration_s"]},
        "description": "A charging request; every field is optional (an empty body or none "
        "takes the site's [ev] defaults; the limits shown are the defaults).",
    }  # fmt: skip


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

    def to_data(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Session:
        """A stored session; ValueError when a field is missing or of the wrong kind."""
        try:
            ident, ev_id, node = (str(data[k]) for k in ("id", "ev_id", "node"))
            granted, started, ends = (_float(data[k]) for k in ("granted_kw", "started", "ends"))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stored session: {exc}") from None
        return cls(ident, ev_id, node, granted, started, ends)


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
    """What the entry node knows of a substation: its charging capacity and load (kW) as it
    last told, the trend of its base load (kW/s) and when it measured them (``at``, its
    clock: a view is replaced only by a newer one)."""

    node: str
    capacity_kw: float
    load_kw: float
    trend: float = 0.0
    at: float = 0.0


def headroom(view: View, reserved_kw: float, horizon_s: float = 0.0) -> float:
    """Capacity − load − reserved; with a ``horizon_s``, the load predicted to be reached
    within it (a rising trend only: a falling one promises nothing)."""
    rise = max(0.0, view.trend) * horizon_s
    return view.capacity_kw - view.load_kw - rise - reserved_kw


def ranked(
    views: Iterable[View],
    reserved: Mapping[str, float],
    *,
    exclude: Iterable[str] = (),
    horizon_s: float = 0.0,
) -> list[str]:
    """The substations to try, most headroom first (ties: the lowest node id)."""
    left = set(exclude)
    order = [v for v in views if v.node not in left]
    order.sort(key=lambda v: (-headroom(v, reserved.get(v.node, 0.0), horizon_s), v.node))
    return [v.node for v in order]


@dataclass
class Trend:
    """An exponentially weighted slope of a load (kW/s) with time constant ``tau_s``: how
    fast a substation's base load is rising, for predictive routing."""

    tau_s: float = 60.0
    slope: float = 0.0
    last: tuple[float, float] | None = None  # (when, kW)

    def add(self, now: float, kw: float) -> float:
        if self.last is not None and now > self.last[0]:
            then, before = self.last
            weight = 1.0 - math.exp(-(now - then) / self.tau_s)
            self.slope += weight * ((kw - before) / (now - then) - self.slope)
        if self.last is None or now > self.last[0]:
            self.last = (now, kw)
        return self.slope
