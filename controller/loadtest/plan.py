"""When each request of a load test is sent, and what it carries (pure: the RNG is passed in).

A plan is the offset of every request from the start of the run, in seconds, sorted:

- ``spaced``: the original tester — one request, a random gap, the next (30 requests, gaps
  drawn uniformly from 0.2–1.0 s);
- ``rush``: every request at offset 0, released together (500);
- ``sustained``: ``rate`` requests a second for ``duration`` seconds, evenly spaced.

Every mode is *open loop*: a request goes at its offset whatever became of the earlier ones,
and its latency is counted from that offset, so a slow server shows as latency rather than
as a lower rate (no coordinated omission).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

MODES = ("spaced", "rush", "sustained")
DEFAULT_REQUESTS = {"spaced": 30, "rush": 500}
DEFAULT_GAP_S = (0.2, 1.0)


class PlanError(ValueError):
    """A load-test setting outside its rule; the message names the option."""


@dataclass(frozen=True)
class Plan:
    mode: str
    offsets_s: tuple[float, ...]

    @property
    def requests(self) -> int:
        return len(self.offsets_s)


def spaced(requests: int, gap_s: tuple[float, float], rng: random.Random) -> Plan:
    low, high = gap_s
    if not 0.0 <= low <= high:
        raise PlanError(f"--gap {low:g} {high:g}: MIN and MAX with 0 <= MIN <= MAX")
    offsets, t = [], 0.0
    for n in range(_count(requests)):
        if n:
            t += rng.uniform(low, high)
        offsets.append(t)
    return Plan("spaced", tuple(offsets))


def rush(requests: int) -> Plan:
    return Plan("rush", (0.0,) * _count(requests))


def sustained(rate_per_s: float, duration_s: float) -> Plan:
    if not rate_per_s > 0.0:
        raise PlanError(f"--rate {rate_per_s:g}: must be more than 0 requests/s")
    if not duration_s > 0.0:
        raise PlanError(f"--duration {duration_s:g}: must be more than 0 s")
    count = max(1, round(rate_per_s * duration_s))
    return Plan("sustained", tuple(n / rate_per_s for n in range(count)))


def _count(requests: int) -> int:
    if requests < 1:
        raise PlanError(f"--requests {requests}: must be at least 1")
    return requests


def charge_body(power_kw: float | None = None, duration_s: float | None = None) -> bytes:
    """The JSON body of each request: empty (the site's defaults) unless a field is given."""
    fields = {"power_kw": power_kw, "duration_s": duration_s}
    given = {name: value for name, value in fields.items() if value is not None}
    return json.dumps(given, separators=(",", ":")).encode() if given else b""
