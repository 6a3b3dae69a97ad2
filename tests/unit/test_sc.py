"""State collection: the leader's snapshot with a time-out and a retry, accepted only from the
current leader; a node without an Sst erases nothing; followers lose no LB round waiting for
it — the collector alone (pure), then the real cores in virtual time with a lossy network."""

from __future__ import annotations

import pytest

from controller.core.collected import Collected, MemberState
from controller.core.effects import (
    BROADCAST,
    Effect,
    Note,
    Send,
    StartTimer,
    StateCollected,
)
from controller.core.group import Group
from controller.lb.settings import LbSettings
from controller.peer.transport import Faults
from controller.sc.core import ScSettings, StateCollector
from controller.sc.messages import CollectedState, Marker, State
from controller.virtual.group import VirtualGroup

GROUP = Group.of("a.1.1", "a", ("a", "b", "c"))
SETTINGS = ScSettings(resend_s=0.02, timeout_s=0.06)


def collector(node: str, gateway: float | None = 1.0, group: Group = GROUP) -> StateCollector:
    sc = StateCollector(node, SETTINGS, epoch=1)
    sc.source = lambda: MemberState("normal", gateway, 2.0, gateway or 0.0)
    sc.group_changed(group, 0.0)
    return sc


def sends(fx: list[Effect]) -> list[Send]:
    return [e for e in fx if isinstance(e, Send)]


def collected(fx: list[Effect]) -> Collected:
    (effect,) = [e for e in fx if isinstance(e, StateCollected)]
    return effect.collected


def answer(member: StateCollector, marker: Marker) -> State:
    (reply,) = sends(member.message("a", marker, 0.0))
    assert reply.to == "a"
    assert isinstance(reply.message, State)
    return reply.message


def test_the_leader_collects_every_member_and_tells_them_all() -> None:
    a, b, c = collector("a", 1.0), collector("b", 2.0), collector("c", 3.0)
    fx = a.start_phase(0.0)
    (marker,) = sends(fx)
    assert marker.to == BROADCAST
    assert isinstance(marker.message, Marker)
    assert not a.message("b", answer(b, marker.message), 0.004)  # waits for c
    fx = a.message("c", answer(c, marker.message), 0.005)
    result = collected(fx)
    assert result.k == 6.0
    assert sorted(result.members) == ["a", "b", "c"]
    assert result.missing == ()
    assert result.took_s == pytest.approx(0.005)
    (out,) = sends(fx)
    assert out.to == BROADCAST
    assert isinstance(out.message, CollectedState)
    for member in (b, c):
        got = collected(member.message("a", out.message, 0.006))
        assert got.k == 6.0
        assert got.leader == "a"
        assert got.members["c"].gateway == 3.0
    assert a.collections == 1
    assert a.partial == 0


def test_a_node_without_an_sst_contributes_nothing_and_erases_nothing() -> None:
    a, b, c = collector("a", 1.0), collector("b", None), collector("c", 3.0)
    (marker,) = sends(a.start_phase(0.0))
    assert isinstance(marker.message, Marker)
    a.message("b", answer(b, marker.message), 0.001)  # FREEDM: this cleared every gateway
    fx = a.message("c", answer(c, marker.message), 0.002)
    result = collected(fx)
    assert result.k == 4.0
    assert result.members["b"].gateway is None
    (out,) = sends(fx)
    assert isinstance(out.message, CollectedState)
    assert collected(c.message("a", out.message, 0.003)).k == 4.0


def test_unanswered_markers_are_resent_then_the_collection_times_out_naming_who_is_missing() -> (
    None
):
    a, b = collector("a"), collector("b")
    fx = a.start_phase(0.0)
    timers = {e.key: e.at for e in fx if isinstance(e, StartTimer)}
    snapshot = a.collecting
    assert timers == {("resend", snapshot): 0.02, ("timeout", snapshot): 0.06}
    (marker,) = sends(fx)
    assert isinstance(marker.message, Marker)
    a.message("b", answer(b, marker.message), 0.01)  # c's marker was lost
    resent = sends(a.timer(("resend", snapshot), 0.02))
    assert [s.to for s in resent] == ["c"]  # only to who has not answered
    fx = a.timer(("timeout", snapshot), 0.06)
    result = collected(fx)
    assert result.missing == ("c",)
    assert sorted(result.members) == ["a", "b"]
    assert any(isinstance(e, Note) and "no state from c" in e.text for e in fx)
    assert a.partial == 1
    assert not a.timer(("resend", snapshot), 0.08)  # over: late timers do nothing
    late = State(snapshot, GROUP.id, "normal", 1, 9.0, 0.0, 0.0, 0.0, 0)
    (reply,) = sends(a.message("c", late, 0.09))  # too late to count: it gets the result
    assert reply.to == "c"
    assert isinstance(reply.message, CollectedState)
    assert reply.message.missing == ("c",)
    assert (
        a.message("c", State(snapshot - 1, GROUP.id, "normal", 1, 9.0, 0.0, 0.0, 0.0, 0), 0.1) == []
    )
    assert a.dropped["late_state"] == 1


def test_a_member_whose_collected_state_was_lost_asks_again() -> None:
    a, b = (
        collector("a", group=Group.of("a.1.1", "a", ("a", "b"))),
        collector("b", group=Group.of("a.1.1", "a", ("a", "b"))),
    )
    (marker,) = sends(a.start_phase(0.0))
    assert isinstance(marker.message, Marker)
    fx = b.message("a", marker.message, 0.001)
    (state,) = sends(fx)
    (wait,) = [e for e in fx if isinstance(e, StartTimer)]
    assert wait.at == pytest.approx(0.001 + SETTINGS.timeout_s + SETTINGS.resend_s)
    assert isinstance(state.message, State)
    a.message("b", state.message, 0.002)  # complete; its CollectedState to b is lost
    (again,) = sends(b.timer(wait.key, wait.at))
    assert again.message == state.message
    (reply,) = sends(a.message("b", again.message, wait.at))
    assert isinstance(reply.message, CollectedState)
    assert collected(b.message("a", reply.message, wait.at)).k == 2.0
    assert not b.timer(wait.key, wait.at + 0.02)  # has it: asks no more


def test_members_take_markers_and_collected_states_only_from_their_current_leader() -> None:
    b = collector("b")
    forged = CollectedState(99, GROUP.id, 1.0, ("c",), ("supply",), (1,), (50.0,), (0.0,),
                            (0.0,), (0.0,), ())  # fmt: skip
    assert not b.message("c", forged, 0.0)  # c is a member, not the leader
    assert not b.message("c", Marker(5, GROUP.id), 0.0)
    assert b.dropped["not_my_leader"] == 2
    assert not b.message("a", Marker(5, "a.1.0"), 0.0)  # the leader's old group
    assert b.dropped["other_group"] == 1
    assert not b.message("z", Marker(5, GROUP.id), 0.0)  # not in the group at all
    assert b.dropped["not_in_group"] == 1
    assert b.last is None
    assert collected(b.message("a", forged, 0.0)).k == 50.0  # the same from the leader: taken
    assert not b.message("a", forged, 0.1)  # and not twice
    assert b.dropped["old_snapshot"] == 1


def test_a_group_of_one_collects_its_own_state_at_once() -> None:
    alone = collector("a", 4.0, Group.of("a.1.1", "a", ()))
    fx = alone.start_phase(0.0)
    assert not sends(fx)
    assert collected(fx).k == 4.0


def test_a_group_change_abandons_the_collection_in_progress() -> None:
    a = collector("a")
    a.start_phase(0.0)
    snapshot = a.collecting
    a.group_changed(Group.of("b.1.1", "b", ("a", "b", "c")), 0.01)
    assert a.collecting is None
    assert not a.timer(("timeout", snapshot), 0.06)


def group(
    n: int,
    faults: Faults | None = None,
    *,
    offsets: dict[str, float] | None = None,
    elections: bool = True,
) -> VirtualGroup:
    return VirtualGroup(
        gateways=[0.0, 4.0, -2.0, 1.0, -3.0, 2.0][:n],
        net_generations={3: [1.0, 2.0, -1.0], 5: [2.0, 1.0, 0.0, -1.0, -2.0]}[n],
        settings=LbSettings(mode="adaptive"),
        seed=3,
        faults=faults,
        group_management=elections,
        clock_offsets=offsets,
    )


@pytest.mark.parametrize("offsets", [None, {"n2": -0.015, "n3": 0.012}],
                         ids=["clocks-agree", "clocks-15ms-apart"])  # fmt: skip
def test_followers_lose_no_lb_round_waiting_for_the_collected_state(
    offsets: dict[str, float] | None,
) -> None:
    vg = group(3, offsets=offsets)
    vg.run(4.0)  # the group forms
    lost = {n: vg.lb(n).rounds_lost for n in vg.nodes}
    phases = {n: vg.lb(n).phases for n in vg.nodes}
    vg.run(12.0)
    for node in vg.nodes:
        assert vg.lb(node).phases - phases[node] >= 9
        assert vg.lb(node).rounds_lost == lost[node], f"{node} lost rounds"
    leader = vg.nodes["n1"].core.modules["sc"]
    assert isinstance(leader, StateCollector)
    assert leader.partial == 0
    assert vg.balanced(0.05)


def test_a_lossy_network_costs_a_few_rounds_never_a_collection_or_a_migration() -> None:
    """One datagram in five lost (the static group, so that only state collection and load
    balancing are on trial): every phase still gets its collection — partial when a member's
    answers are all lost — and a member whose collected state was lost asks again, so it loses
    a round or two, not the phase."""
    vg = group(5, Faults(drop=0.2), elections=False)
    vg.run(30.0)
    leader = vg.nodes["n1"].core.modules["sc"]
    assert isinstance(leader, StateCollector)
    phases = vg.lb("n1").phases
    assert leader.collections == phases == 24
    assert leader.partial >= 1
    rounds = phases * vg.plan.rounds
    for node in vg.nodes:
        assert vg.lb(node).rounds_lost < 0.05 * rounds
    assert vg.balanced(0.05)
    assert abs(vg.setpoint_sum_change()) < 1e-6


def test_a_restarted_leader_is_believed_whatever_its_snapshot_numbers() -> None:
    """Snapshot ids are ordered within one group only: a leader back with a new boot (a new
    group id) may number lower (found in review: members dropped its states for good)."""
    member = collector("b", group=Group.of("a.9.1", "a", ("a", "b")))
    old = CollectedState(9 << 20, "a.9.1", 1.0, ("a",), ("normal",), (1,), (1.0,), (0.0,),
                         (0.0,), (0.0,), ())  # fmt: skip
    assert collected(member.message("a", old, 0.0)).snapshot == 9 << 20
    member.group_changed(Group.of("a.2.1", "a", ("a", "b")), 1.0)  # a rebooted, lower epoch
    new = CollectedState(2 << 20, "a.2.1", 1.0, ("a",), ("normal",), (1,), (2.0,), (0.0,),
                         (0.0,), (0.0,), ())  # fmt: skip
    assert collected(member.message("a", new, 1.1)).k == 2.0


def test_the_load_balancer_synchronises_only_from_its_own_groups_collection() -> None:
    from controller.lb.core import LoadBalancer
    from controller.lb.settings import LbSettings
    from tests.lb_link import Plant

    lb = LoadBalancer("b", LbSettings(mode="adaptive"), epoch=1)
    lb.group_changed(Group.of("g1", "a", ("a", "b")), 0.0)
    lb.start_phase(0.0)
    lb.state_collected(Collected(1, "g1", "a", {"a": MemberState("normal", 40.0, 0.0, 0.0)},
                                 (), 0.0, 0.0), 0.0)  # fmt: skip
    lb.group_changed(Group.of("g2", "c", ("b", "c")), 1.0)  # a new group; its collection lost
    lb.start_phase(1.3)
    lb.round(Plant(0.0, 0.0, 0.0).readings(1.3), 1.3)
    assert not lb.synced  # not from g1's state
    assert lb.rounds_lost == 1


def test_a_peer_missing_from_one_collection_keeps_its_last_state_until_stale() -> None:
    vg = group(3, elections=False)
    vg.run(3.0)
    lb = vg.lb("n1")
    before = lb.peer_view("n2", vg.local("n1"))
    assert before.state is not None
    vg.set_faults(Faults(cut=frozenset({"n2"})))
    vg.run(1.3)  # one collection without n2
    view = lb.peer_view("n2", vg.local("n1"))
    assert (view.state, view.stale) == (before.state, False)
    vg.run(4.0)  # beyond the stale time
    assert lb.peer_view("n2", vg.local("n1")).stale
