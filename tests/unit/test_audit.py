"""``dgi audit``'s verdict as a table (pure): what makes a site consistent, or not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from controller.core.audit import Baseline, NodeFacts, judge


def node(name: str, held: float, commanded: float, initial: float, **status: Any) -> NodeFacts:
    return NodeFacts(
        node=name,
        held=held,
        held_setpoint=held,
        gateway=held,
        net_generation=-10.0,
        status={"commanded": commanded, "state": "normal", "released": False,
                "started_at": 100.0, **status},
        ledger={"initial": initial, "adjusted": 0.0, "migrated": commanded - initial,
                "setpoint": commanded, "seq": 3, "acked_seq": 3},
    )  # fmt: skip


BALANCED = [node("a", -10.0, -10.0, -20.0), node("b", -10.0, -10.0, 10.0),
            node("c", -10.0, -10.0, -20.0)]  # fmt: skip


def change(index: int, **fields: Any) -> Callable[[list[NodeFacts]], list[NodeFacts]]:
    def apply(facts: list[NodeFacts]) -> list[NodeFacts]:
        out = list(facts)
        out[index] = replace(out[index], **fields)
        return out

    return apply


CASES = [
    ("consistent", lambda f: f, []),
    ("belief-differs", change(0, held=-20.0, held_setpoint=-20.0),
     ["a: its actuator holds setpoint -20 but it commanded -10",
      "the setpoints the devices hold changed by -10.000000 kW in sum, not by the +0.000000 kW "
      "the nodes adjusted: a migration was applied on one side only"]),
    ("lost-half", lambda f: [node("a", -10.0, -10.0, -20.0), node("b", -9.0, -9.0, 10.0),
                             node("c", -10.0, -10.0, -20.0)],
     ["the setpoints the devices hold changed by +1.000000 kW in sum, not by the +0.000000 kW "
      "the nodes adjusted: a migration was applied on one side only"]),
    ("adjusted-on-purpose", change(0, held=-7.0, held_setpoint=-7.0, status={"commanded": -7.0, "state": "normal"},
                                   ledger={"initial": -20.0, "adjusted": 3.0, "migrated": 10.0,
                                           "setpoint": -7.0, "seq": 5, "acked_seq": 5}), []),
    ("not-acknowledged", change(1, ledger={"initial": 10.0, "adjusted": 0.0, "migrated": -20.0,
                                           "setpoint": -10.0, "seq": 6, "acked_seq": 5}),
     ["b: its newest command is not acknowledged by the device yet"]),
    ("open-pair", lambda f: [replace(f[0], status={**f[0].status, "state": "supply"}),  # type: ignore[dict-item]
                             replace(f[1], status={**f[1].status, "state": "demand"}), f[2]],  # type: ignore[dict-item]
     ["SUPPLY and DEMAND nodes left facing each other: a -> b"]),
    ("pair-across-groups", lambda f: [replace(f[0], status={**f[0].status, "state": "supply", "group": ["a", "c"]}),  # type: ignore[dict-item]
                                      replace(f[1], status={**f[1].status, "state": "demand", "group": ["b"]}), f[2]],  # type: ignore[dict-item]
     []),
    ("unreachable", change(2, status=None, ledger=None, problems=["its API at http://x cannot be read: refused"]),
     ["c: its API at http://x cannot be read: refused", "c: it reports no command"]),
    ("device-unreadable", change(1, held=None, held_setpoint=None, problems=["device b-gateway cannot be read: timed out"]),
     ["b: device b-gateway cannot be read: timed out", "b: its actuator's setpoint could not be read"]),
    ("released", change(1, status={"commanded": -10.0, "state": "normal", "released": True, "started_at": 100.0}),
     ["b: it is released to failsafe values"]),
]  # fmt: skip


@pytest.mark.parametrize(("make", "problems"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_verdict(make: Callable[[list[NodeFacts]], list[NodeFacts]], problems: list[str]) -> None:
    verdict = judge(make(BALANCED))
    assert verdict.problems == problems
    assert verdict.consistent is (not problems)


def test_sums_and_residual_from_the_devices() -> None:
    verdict = judge(BALANCED)
    assert verdict.setpoint_sum_change == 0.0
    assert verdict.residual == 0.0
    assert verdict.as_dict()["consistent"] is True


def test_a_baseline_replaces_the_nodes_start_values() -> None:
    base = {"a": Baseline(-20.0), "b": Baseline(10.0), "c": Baseline(-19.0)}
    verdict = judge(BALANCED, base)
    assert verdict.setpoint_sum_change == pytest.approx(-1.0)
    assert not verdict.consistent


def test_adjustments_count_from_the_baseline_not_from_the_node_start() -> None:
    """A Logger hold before the baseline moved a's setpoint by +0.5: not a lost migration."""
    held = replace(BALANCED[0], ledger={**BALANCED[0].ledger, "adjusted": 0.5})  # type: ignore[dict-item]
    facts = [held, *BALANCED[1:]]
    base = {"a": Baseline(-10.0, adjusted=0.5, started_at=100.0), "b": Baseline(-10.0, 0.0, 100.0),
            "c": Baseline(-10.0, 0.0, 100.0)}  # fmt: skip
    verdict = judge(facts, base)
    assert verdict.consistent, verdict.problems
    restarted = replace(held, status={**held.status, "started_at": 200.0})  # type: ignore[dict-item]
    later = judge([restarted, *BALANCED[1:]], base)
    assert later.notes == [
        "a restarted since the baseline: what its earlier process adjusted after the baseline "
        "is not known"
    ]


def test_a_supply_and_a_demand_in_different_groups_are_noted_not_judged() -> None:
    """A partition or an open Fid makes two groups; each balances by itself."""
    facts = [
        replace(BALANCED[0], status={**BALANCED[0].status, "state": "supply", "group": ["a"]}),  # type: ignore[dict-item]
        replace(BALANCED[1], status={**BALANCED[1].status, "state": "demand", "group": ["b", "c"]}),  # type: ignore[dict-item]
        BALANCED[2],
    ]  # fmt: skip
    verdict = judge(facts)
    assert verdict.consistent
    assert verdict.open_pairs == []
    assert verdict.notes == [
        "SUPPLY and DEMAND nodes in different groups (not balanced against each other): a -> b"
    ]
