"""The decision rules of load balancing, as plain functions.

See docs/algorithm.md: "The state rule", "The draft handshake", "The physical invariant" and
"Two modes, one state machine".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from controller.lb.settings import QUANTUM

SUPPLY, DEMAND, NORMAL = "supply", "demand", "normal"
STATES = (SUPPLY, DEMAND, NORMAL)  # the one definition of the LB states

# FREEDM's physical invariant: one 7-node PSCAD microgrid (kept for fidelity, off by default).
OMEGA_STEADY_STATE = 376.8
SCALING_FACTOR = 1000.0


def state_of(net_generation: float, gateway: float, band: float, has_sst: bool) -> str:
    """SUPPLY if NG >= G + band, DEMAND if NG <= G - band (inclusive), else NORMAL."""
    if not has_sst:
        return NORMAL
    if net_generation >= gateway + band:
        return SUPPLY
    if net_generation <= gateway - band:
        return DEMAND
    return NORMAL


def invariant_holds(frequency: float, k: float, step: float) -> bool:
    """``d²(0.1w + 0.008) + d·5.001e-8·P² > d·dK`` with P = 1000K, dK = 1000(K + step)."""
    d = frequency - OMEGA_STEADY_STATE
    p = SCALING_FACTOR * k
    dk = SCALING_FACTOR * (k + step)
    return d * d * (0.1 * frequency + 0.008) + d * (5.001e-8 * p * p) > d * dk


def quantize(amount: float) -> float:
    """Round down to the migration quantum (never up: a migration must not overshoot)."""
    if not math.isfinite(amount) or amount <= 0:
        return 0.0
    return math.floor(amount / QUANTUM) * QUANTUM


def freedm_selection(ages: Mapping[str, float], step: float) -> tuple[str | None, list[str]]:
    """FREEDM's DraftStandard: (peer to select or None, peers that answered exactly 0).

    Walk the ages in peer-id order; age 0 moves the peer to the normal set; the strictly
    largest age wins (ties: the first in id order; negative ages never win). The winner is
    selected only if its age is at least one step.
    """
    best, best_age, zeros = None, 0.0, []
    for peer in sorted(ages):
        age = ages[peer]
        if age == 0.0:
            zeros.append(peer)
        elif age > best_age:
            best, best_age = peer, age
    return (best if best is not None and best_age >= step else None), zeros


def adaptive_plan(
    ages: Mapping[str, float],
    *,
    available: float,
    headroom: float,
    step_max: float,
    smallest: float,
    several: bool,
) -> list[tuple[str, float]]:
    """Sized migrations, neediest first, while the surplus lasts (docs/algorithm.md, "Two
    modes, one state machine": sized migrations, several demand peers, device limits)."""
    plan = []
    for peer, age in sorted(ages.items(), key=lambda item: (-item[1], item[0])):
        amount = quantize(min(step_max, available, headroom, age))
        if amount < smallest:
            break
        plan.append((peer, amount))
        available -= amount
        headroom -= amount
        if not several:
            break
    return plan
