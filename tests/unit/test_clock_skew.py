"""The clock skew a group tolerates (``bench/clock_skew.py``, docs/deployment.md "Clock
synchronisation"): the three-substations site in virtual time with sst2's clock off. Within
the tolerance recommended there the group converges twice (at the start and after a load
step) and stays one group; far beyond it the group splits — and in no case is power created
(Σ setpoint change 0)."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from config.loader import load_site
from tests.conftest import EXAMPLES, ROOT

_spec = importlib.util.spec_from_file_location("clock_skew", ROOT / "bench/clock_skew.py")
assert _spec is not None
assert _spec.loader is not None
clock_skew = sys.modules["clock_skew"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(clock_skew)

SITE = load_site(EXAMPLES / "three-substations.toml")


@pytest.mark.parametrize("offset_ms", [0.0, 10.0, -10.0, 25.0, -25.0])
def test_a_group_within_the_tolerated_skew_converges_twice_in_one_group(offset_ms: float) -> None:
    outcome = clock_skew.run(SITE, "sst2", offset_ms, duration_s=40.0)
    assert outcome.converged
    assert outcome.convergence_s <= 5.0
    assert outcome.reconvergence_s <= 5.0
    assert outcome.setpoint_sum_change == pytest.approx(0.0, abs=1e-6)
    assert outcome.one_group >= 0.9
    assert outcome.group_changes <= 10


@pytest.mark.parametrize("offset_ms", [200.0, -200.0])
def test_far_beyond_it_the_group_splits_and_creates_no_power(offset_ms: float) -> None:
    outcome = clock_skew.run(SITE, "sst2", offset_ms, duration_s=40.0)
    assert outcome.one_group < 0.5
    assert outcome.setpoint_sum_change == pytest.approx(0.0, abs=1e-6)
