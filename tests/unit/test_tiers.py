"""Two tiers: groups per feeder, transfers between feeders through their leaders
(docs/algorithm.md, "Two tiers: groups per feeder and transfers between feeders").

Real node cores, wire and in-memory network in virtual time, toy substations; the sums are
read from the plants (what the devices hold), not from the cores' bookkeeping.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from controller.assembly import CoreSpec, assemble
from controller.core.effects import Send
from controller.lb.messages import DraftSelect, FeederState, TooLate
from controller.lb.settings import LbSettings
from controller.lb.tier import feeder_anchors
from controller.lb.transactions import COMMITTED, PROVISIONAL
from controller.peer.transport import Faults
from controller.sim.site_group import site_group
from controller.virtual.group import TEST_KEYRING, DeviceTiming, VirtualGroup
from tests.helpers import example

ADAPTIVE = LbSettings(mode="adaptive", tolerance=0.01, step_max=10.0)
FEEDERS = [["n1", "n2", "n3"], ["n4", "n5", "n6"]]
# feeder 1 is 15 kW in surplus, feeder 2 15 kW in deficit: neither can balance on its own
SURPLUS_AND_DEFICIT = [8.0, 5.0, 2.0, -4.0, -5.0, -6.0]


def two_feeders(anchors: int = 1, **kwargs: object) -> VirtualGroup:
    return VirtualGroup(
        gateways=[0.0] * 6,
        net_generations=SURPLUS_AND_DEFICIT,
        settings=ADAPTIVE,
        feeders=FEEDERS,
        anchors=anchors,
        **kwargs,  # type: ignore[arg-type]
    )


def feeder_sums(group: VirtualGroup) -> list[float]:
    """Σ (held setpoint − initial) per feeder, from the plants."""
    return [
        sum(group.nodes[n].plant.pstar - group.nodes[n].initial_pstar for n in feeder)
        for feeder in FEEDERS
    ]


def test_anchors_are_the_lowest_ids_of_every_feeder() -> None:
    feeders = [["a3", "a1", "a2"], ["b2", "b1"], ["c1"]]
    assert feeder_anchors(feeders, 2) == ("a1", "a2", "b1", "b2", "c1")
    assert feeder_anchors(feeders, 1) == ("a1", "b1", "c1")
    with pytest.raises(ValueError, match="at least 1"):
        feeder_anchors(feeders, 0)


def test_a_node_hears_only_its_feeder_and_the_other_feeders_anchors() -> None:
    anchors = feeder_anchors(FEEDERS, 2)
    core = assemble(CoreSpec("n3", FEEDERS[0], ADAPTIVE, TEST_KEYRING, 1, tier_peers=anchors))
    assert core.wire.members == {"n1", "n2", "n4", "n5"}
    assert core.lb.tier_peers == {"n4", "n5"}
    assert core.lb.tier_anchors == {"n1", "n2"}


def test_tier_two_needs_adaptive_transactions() -> None:
    freedm = LbSettings(mode="freedm")
    spec = CoreSpec("n1", ["n1", "n2"], freedm, TEST_KEYRING, 1, tier_peers=("n3",))
    with pytest.raises(ValueError, match="adaptive"):
        assemble(spec)


def test_without_tier_two_each_feeder_keeps_its_residual() -> None:
    """The default (no tier peers): tier 1 balances inside each feeder as far as it can and
    no setpoint change leaves a feeder."""
    group = two_feeders(anchors=0)
    group.run(8.0)
    assert feeder_sums(group) == [0.0, 0.0]
    imbalance = group.imbalance()
    assert sum(imbalance[n] for n in FEEDERS[0]) == pytest.approx(-15.0)
    assert sum(imbalance[n] for n in FEEDERS[1]) == pytest.approx(15.0)


def test_two_feeders_balance_across_and_the_changes_sum_to_zero() -> None:
    group = two_feeders()
    group.run(8.0)
    assert group.balanced(0.01), group.imbalance()
    assert group.setpoint_sum_change() == 0.0
    assert feeder_sums(group) == [15.0, -15.0]  # the surplus went across, exactly


def test_only_delegates_send_feeder_states_and_the_others_nothing_extra() -> None:
    """Tier 2 costs the delegates (here the leaders) one announcement per anchor of the
    other feeders per cycle; the other nodes nothing."""
    group = two_feeders(anchors=2)
    group.run(6.0)
    sent = {n: group.nodes[n].core.wire.stats.sent["FeederState"] for n in group.nodes}
    cycles = 6.0 / ADAPTIVE.cycle_s
    assert {n for n, count in sent.items() if count} == {"n1", "n4"}
    assert all(count <= 2 * (cycles + 1) for count in sent.values()), sent
    assert group.balanced(0.01)


@pytest.mark.parametrize("seed", range(4))
def test_lost_duplicated_and_reordered_datagrams_keep_conservation(seed: int) -> None:
    group = two_feeders(
        seed=seed,
        faults=Faults(drop=0.1, duplicate=0.1, reorder=0.1),
        devices=DeviceTiming(read_s=(0.005, 0.015), write_s=(0.001, 0.004)),
    )
    group.run(15.0)
    group.set_faults(Faults())
    group.run(8.0)  # quiet: every open transaction resolved
    assert group.setpoint_sum_change() == 0.0
    assert sum(feeder_sums(group)) == 0.0
    assert group.balanced(0.05), group.imbalance()


def crash_as_it_sends(group: VirtualGroup, node: str, condition: Callable[[], bool]) -> None:
    """Kill ``node`` at the first datagram it sends once ``condition`` holds (the datagram
    is lost with it); runs the group until then."""
    carry, armed = group.network.carry, [True]

    def carried(source: str, to: str, data: bytes) -> None:
        if armed[0] and source == node and condition():
            armed[0] = False
            group.crash(node)
            return
        if not group.nodes[source].down:
            carry(source, to, data)

    group.network.carry = carried  # type: ignore[method-assign]
    end = group.now + 10.0
    while armed[0] and group.now < end:
        group.run(0.001)
    assert not armed[0], f"{node} never met the condition"


@pytest.mark.parametrize("down_s", [0.0, 0.4, 1.3, 3.1])
@pytest.mark.parametrize("victim", ["n1", "n4"])
def test_a_leader_killed_mid_transfer_loses_nothing(victim: str, down_s: float) -> None:
    """n1 (supply) dies the moment its tier-2 DraftCommit leaves, or n4 (demand) the
    moment its DraftAccept for a transfer it took leaves: both lost with it. The peer keeps
    asking or answering; the restarted node settles the transfer from its journal."""
    group = two_feeders(devices=DeviceTiming(read_s=(0.01, 0.02), write_s=(0.001, 0.002)))

    def committed() -> bool:
        return any(t.tier and t.state == COMMITTED for t in group.lb("n1").supply_tx.values())

    def taken() -> bool:
        tx = group.lb("n4").demand_tx
        return any(p == "n1" and t.state == PROVISIONAL for (p, _), t in tx.items())

    crash_as_it_sends(group, victim, committed if victim == "n1" else taken)
    group.run(down_s)
    group.restart(victim)
    group.run(10.0)
    assert group.setpoint_sum_change() == 0.0
    assert feeder_sums(group) == [15.0, -15.0]
    assert group.balanced(0.01), group.imbalance()


def test_a_member_ignores_feeder_states_and_refuses_transfers() -> None:
    """Tier messages from another feeder's anchor move nothing unless this node leads a
    feeder it collected this phase: a member (or a leader not yet synchronised) refuses."""
    group = two_feeders(anchors=2)
    group.run(3.0)
    member = group.lb("n2")  # an anchor of feeder 1, not its leader
    fx = member.message("n4", FeederState(-50.0), group.local("n2"))
    assert fx == []
    assert member.feeder_residual is None
    before = member.ledger.command
    fx = member.message("n4", DraftSelect(99, 5.0), group.local("n2"))
    assert [type(e.message) for e in fx if isinstance(e, Send)] == [TooLate]
    assert member.ledger.command == before


@pytest.mark.parametrize(("anchors", "balanced"), [(2, True), (1, False)])
def test_a_leader_gone_for_good_is_replaced_at_tier_two_by_the_next_anchor(
    anchors: int, balanced: bool
) -> None:
    """With group management, n1 leads feeder 1 until it dies; n2 then leads what is left
    of it and, being an anchor too (k = 2), transfers its new surplus to feeder 2's new
    deficit. With one anchor per feeder what is left of feeder 1 has none: it sits out."""
    group = two_feeders(anchors=anchors, group_management=True)
    group.run(6.0)
    assert group.balanced(0.01)
    group.crash("n1")
    group.set_net_generation("n2", 25.0)  # +20 kW in feeder 1 ...
    group.set_net_generation("n5", -25.0)  # ... and -20 kW in feeder 2
    group.run(10.0)
    assert group.nodes["n3"].core.group.leader == "n2"
    assert group.setpoint_sum_change() == 0.0
    assert group.balanced(0.01) is balanced, group.imbalance()


@pytest.mark.parametrize("anchors", [0, 1])
def test_a_site_split_into_two_feeders_balances_only_with_tier_two(anchors: int) -> None:
    """FREEDM's four SSTs (examples/four-substations.toml), the simulators' plant of every
    device, group management on: sst1 and sst2 (12 kW in surplus together) form one
    feeder, sst3 and sst4 (12 kW in deficit) the other."""
    site = example("four-substations.toml")
    west, east = ["sst1", "sst2"], ["sst3", "sst4"]
    members = {node: (west if node in west else east) for node in [*west, *east]}
    group = site_group(site, members=members, anchors=anchors)
    group.run(10.0)
    assert {n: v.core.group.members for n, v in group.nodes.items()} == {
        n: tuple(m) for n, m in members.items()
    }
    assert group.setpoint_sum_change() == 0.0
    assert group.balanced(0.05) is bool(anchors), group.imbalance()


@pytest.mark.parametrize("seed", range(3))
def test_three_feeders_with_changing_generation_and_faults_conserve_and_balance(
    seed: int,
) -> None:
    """Nine nodes in three feeders, net generations drawn at random and changed twice while
    both tiers draft (a leader offering to a member and to another feeder in the same
    round), one datagram in ten lost or duplicated; the site as a whole can balance."""
    rng = random.Random(seed)
    feeders = [["n1", "n2", "n3"], ["n4", "n5", "n6"], ["n7", "n8", "n9"]]

    def draw() -> list[float]:
        values = [rng.uniform(-12.0, 12.0) for _ in range(8)]
        return [*values, -sum(values)]  # Σ NG = 0 = Σ gateways: balanceable

    group = VirtualGroup(
        gateways=[0.0] * 9,
        net_generations=draw(),
        settings=ADAPTIVE,
        feeders=feeders,
        anchors=2,
        seed=seed,
        faults=Faults(drop=0.1, duplicate=0.1),
        group_management=True,
    )
    for _ in range(2):
        group.run(6.0)
        for node, value in zip(group.nodes, draw(), strict=True):
            group.set_net_generation(node, value)
    group.run(10.0)
    group.set_faults(Faults())
    group.run(10.0)
    assert group.setpoint_sum_change() == 0.0
    assert group.balanced(0.05), group.imbalance()
