"""Phase arithmetic and FREEDM's phase discipline."""

from __future__ import annotations

import pytest

from config.timings import PROFILES
from controller.assembly import CoreSpec, assemble
from controller.core.messages import Limits
from controller.core.phases import PhasePlan, rounds_per_phase
from controller.lb.messages import StateChange
from controller.lb.settings import LbSettings
from controller.peer.keys import Keyring
from controller.peer.wire import Wire


@pytest.mark.parametrize(
    ("phase_ms", "round_ms", "rounds"),
    [
        (1000, 100, 9),
        (4100, 410, 9),
        (4100, 3000, 1),
        (15300, 1530, 9),
        (3600, 350, 10),
        (500, 250, 1),
        (1000, 0, 1),
    ],
    ids=["fast-5", "slow-5", "head", "slow-30", "p4-3", "exactly-two", "no-rounds"],
)
def test_rounds_per_lb_phase_as_freedm_counts_them(
    phase_ms: int, round_ms: int, rounds: int
) -> None:
    assert rounds_per_phase(phase_ms, round_ms) == rounds


def test_plan_of_fast_5() -> None:
    plan = PhasePlan.from_timings(PROFILES["fast-5"])
    assert plan.cycle_s == pytest.approx(1.24)
    offsets = [(round(e.at, 3), e.kind, e.index) for e in plan.offsets()]
    assert offsets[:4] == [(0.0, "gm", 0), (0.16, "sc", 0), (0.24, "lb", 0), (0.24, "round", 0)]
    assert offsets[-1] == (1.04, "round", 8)


def test_cycles_align_to_multiples_of_their_length() -> None:
    plan = PhasePlan.from_timings(PROFILES["fast-5"])
    start = plan.next_cycle(1_000_000.0)
    assert start % 1.24 == pytest.approx(0.0, abs=1e-6) or start % 1.24 == pytest.approx(
        1.24, abs=1e-6
    )
    assert plan.phase_at(start + 0.1) == "gm"
    assert plan.phase_at(start + 0.2) == "sc"
    assert plan.phase_at(start + 0.5) == "lb"
    events = list(plan.events(start, start + 2 * plan.cycle_s))
    assert [e.kind for e in events].count("round") == 18
    assert events == sorted(events, key=lambda e: e.at)


def test_lb_messages_outside_the_lb_phase_wait_for_it() -> None:
    keys = Keyring("k", {"k": bytes(32)})
    sender = Wire("a", ["a", "b"], keys, epoch=1, limits=Limits(100.0))
    node = assemble(CoreSpec("b", ["a", "b"], LbSettings(max_amount=100.0), keys, epoch=1))
    node.phase_started("gm", 10.0)
    assert node.datagram(sender.seal("b", StateChange("demand"), 10.0), 10.0) == []
    assert node.lb.sets["a"] == "normal"  # not yet: GM phase
    node.phase_started("lb", 10.5)
    assert node.lb.sets["a"] == "demand"  # delivered when the LB phase began
    assert node.wire.stats.accepted() == 1
