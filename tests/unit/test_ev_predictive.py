"""Predictive routing (``[ev] routing = "predictive"``) beats routing by the load of the moment
where a substation's base load ramps up: the scenario of ``bench/ev_predictive.py``, run by the
real EV modules in virtual time."""

from __future__ import annotations

import importlib.util
import sys

from tests.conftest import ROOT

_spec = importlib.util.spec_from_file_location("ev_predictive", ROOT / "bench/ev_predictive.py")
assert _spec is not None
assert _spec.loader is not None
ev_predictive = sys.modules["ev_predictive"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ev_predictive)


def test_predictive_routing_keeps_a_ramping_substation_within_capacity() -> None:
    instant = ev_predictive.run(predictive=False)
    predictive = ev_predictive.run(predictive=True)
    assert instant.overload_kwh > 5.0  # the early EVs went to the substation that looked empty
    assert predictive.overload_kwh == 0.0
    assert predictive.booked["sst1"] < instant.booked["sst1"]
