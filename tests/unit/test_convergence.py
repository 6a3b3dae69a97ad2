"""The demo's convergence time, folded sample by sample."""

from __future__ import annotations

import pytest

from controller.core.convergence import Settling


def settle(samples: list[tuple[float, float]], since: float = 0.0) -> float | None:
    settling = Settling(tolerance=0.05)
    for t, worst in samples:
        settling.add(t, worst)
    return settling.converged_at(since)


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([], None),
        ([(0.0, 1.0)], None),
        ([(0.0, 0.01), (1.0, 0.0)], 0.0),  # balanced from the start
        ([(0.0, 5.0), (0.5, 2.0), (1.0, 0.01), (2.0, 0.0)], 1.0),
        ([(0.0, 5.0), (1.0, 0.01), (2.0, 3.0), (3.0, 0.02)], 3.0),  # a relapse counts
        ([(0.0, 5.0), (1.0, 0.01), (2.0, 3.0)], None),  # out of tolerance now
    ],
)
def test_converged_at(samples: list[tuple[float, float]], expected: float | None) -> None:
    assert settle(samples) == expected


def test_time_before_the_first_round_does_not_count() -> None:
    assert settle([(0.0, 5.0), (1.0, 0.0), (4.0, 0.0)], since=2.0) == 0.0
    assert settle([(0.0, 5.0), (3.0, 0.0)], since=2.0) == 1.0
