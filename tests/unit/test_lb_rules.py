"""The decision rules as tables: state rule, FREEDM selection, adaptive plan, invariant."""

from __future__ import annotations

import pytest

from controller.lb import rules
from controller.lb.settings import QUANTUM


@pytest.mark.parametrize(
    ("ng", "g", "band", "has_sst", "expected"),
    [
        (10.0, 0.0, 1.0, True, "supply"),
        (1.0, 0.0, 1.0, True, "supply"),  # inclusive
        (0.99, 0.0, 1.0, True, "normal"),
        (-1.0, 0.0, 1.0, True, "demand"),  # inclusive
        (-0.99, 0.0, 1.0, True, "normal"),
        (-10.0, 0.0, 1.0, True, "demand"),
        (10.0, 0.0, 1.0, False, "normal"),  # no SST: always NORMAL
        (0.02, 0.0, 0.01, True, "supply"),
    ],
)  # fmt: skip
def test_state_rule(ng: float, g: float, band: float, has_sst: bool, expected: str) -> None:
    assert rules.state_of(ng, g, band, has_sst) == expected


@pytest.mark.parametrize(
    ("ages", "step", "selected", "zeros"),
    [
        ({"b": 3.0, "c": 5.0}, 1.0, "c", []),
        ({"b": 5.0, "c": 5.0}, 1.0, "b", []),  # tie: first in id order
        ({"b": 0.0, "c": 2.0}, 1.0, "c", ["b"]),  # exactly 0: to the normal set
        ({"b": 0.5}, 1.0, None, []),  # largest age below one step: no selection
        ({"b": -3.0}, 1.0, None, []),  # negative ages never win
        ({}, 1.0, None, []),
        ({"b": 1.0}, 1.0, "b", []),  # inclusive
    ],
)  # fmt: skip
def test_freedm_selection(
    ages: dict[str, float], step: float, selected: str | None, zeros: list[str]
) -> None:
    assert rules.freedm_selection(ages, step) == (selected, zeros)


@pytest.mark.parametrize(
    ("ages", "available", "headroom", "several", "plan"),
    [
        ({"b": 11.0, "c": 1.0}, 8.0, 100.0, True, [("b", 8.0)]),
        ({"b": 3.0, "c": 1.0}, 8.0, 100.0, True, [("b", 3.0), ("c", 1.0)]),
        ({"b": 3.0, "c": 1.0}, 8.0, 100.0, False, [("b", 3.0)]),
        ({"b": 30.0}, 50.0, 100.0, True, [("b", 10.0)]),  # step_max is the ramp limit
        ({"b": 30.0}, 50.0, 2.5, True, [("b", 2.5)]),  # the SST rating limits it
        ({"b": 3.0, "c": 3.0}, 4.0, 100.0, True, [("b", 3.0), ("c", 1.0)]),  # tie: id order
        ({"b": 3.0}, 0.0, 100.0, True, []),
    ],
)  # fmt: skip
def test_adaptive_plan(
    ages: dict[str, float],
    available: float,
    headroom: float,
    several: bool,
    plan: list[tuple[str, float]],
) -> None:
    got = rules.adaptive_plan(
        ages,
        available=available,
        headroom=headroom,
        step_max=10.0,
        smallest=QUANTUM,
        several=several,
    )
    assert got == plan


@pytest.mark.parametrize(
    ("amount", "expected"),
    [(1.0, 1.0), (0.3, 0.2998046875), (QUANTUM / 2, 0.0), (-1.0, 0.0), (float("nan"), 0.0)],
)
def test_quantize_rounds_down_to_the_quantum(amount: float, expected: float) -> None:
    assert rules.quantize(amount) == expected


@pytest.mark.parametrize(
    ("frequency", "k", "holds"),
    [
        (376.8, 0.0, False),  # d = 0: 0 > 0 is false
        (377.8, 0.0, False),  # d = 1: 37.788 > 1000 is false
        (406.8, 0.0, True),  # d = 30: 900 * 40.688 = 36619 > 30000
        (375.8, 0.0, True),  # d = -1: 37.588 > -1000
        (375.8, -5.0, False),  # d = -1, P² term 1.25: 36.34 > 4000 is false
        (375.8, 5.0, True),  # d = -1: 36.34 > -6000
    ],
)
def test_invariant(frequency: float, k: float, holds: bool) -> None:
    assert rules.invariant_holds(frequency, k, 1.0) is holds


def test_figures_forget_offers_that_never_settled() -> None:
    from controller.core.effects import Note
    from controller.node.figures import Figures

    figures = Figures()
    for window in range(1, 1001):  # every offer refused: no migration ever settles them
        figures.note(Note("request", "", {"window": window}), window * 0.1)
        figures.note(Note("select", "", {"tx": window, "window": window}), window * 0.1)
        figures.note(Note("too_late", "", {}), window * 0.1)
    assert len(figures._window_of) == 1
    assert figures.outcomes[("out", "refused")] == 1000
    figures.note(Note("migration", "", {"role": "supply", "tx": 1000}), 100.003)
    assert figures.migrations.count == 1
    assert figures.migrations.total == pytest.approx(0.003, abs=1e-6)
