"""Group management: FREEDM's GM test plan (2–4 nodes, links at 100 %, 0 % or partial) in
virtual time with the real node cores and wire, the priority rule, and inputs that must
never move a node."""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import pytest

from config.timings import PROFILES
from controller.core.effects import Effect, GroupChanged, Send, StartTimer
from controller.core.group import Group
from controller.gm.core import GroupManager
from controller.gm.messages import (
    AreYouCoordinatorResponse,
    AreYouThereResponse,
    Invite,
    PeerList,
)
from controller.gm.settings import GmSettings
from controller.lb.settings import LbSettings
from controller.peer.transport import Faults
from controller.virtual.group import VirtualGroup

CYCLE_S = PROFILES["fast-5"].GM_PHASE_TIME / 1000 + 1.08  # 1.24 s


def site(
    n: int, links: Mapping[frozenset[str], float] | None = None, seed: int = 0
) -> VirtualGroup:
    group = VirtualGroup(
        gateways=[0.0] * n,
        net_generations=[0.0] * n,
        settings=LbSettings(mode="adaptive"),
        seed=seed,
        faults=Faults(link_drop=dict(links or {})),
        group_management=True,
    )
    return group


def groups(vg: VirtualGroup) -> dict[str, Group]:
    return {n: node.core.group for n, node in vg.nodes.items()}


def partition(vg: VirtualGroup) -> set[tuple[str, tuple[str, ...]]]:
    """(leader, members) of every group, as its members see it; raises if they disagree."""
    seen = groups(vg)
    out = set()
    for node, group in seen.items():
        assert node in group.members
        for member in group.members:
            assert seen[member] == group, f"{node} and {member} disagree: {seen}"
        out.add((group.leader, group.members))
    return out


def pairs(nodes: list[str], reliability: float) -> dict[frozenset[str], float]:
    return {frozenset(p): 1.0 - reliability for p in itertools.combinations(nodes, 2)}


@pytest.mark.parametrize("n", [2, 3, 4])
def test_all_links_up_one_stable_group_led_by_the_lowest_id(n: int) -> None:
    vg = site(n)
    vg.run(2 * CYCLE_S)
    ids = tuple(f"n{i + 1}" for i in range(n))
    assert partition(vg) == {("n1", ids)}
    before = groups(vg)
    vg.run(5 * CYCLE_S)
    assert groups(vg) == before  # stable: no new election once formed
    gm = vg.nodes["n1"].core.modules["gm"]
    assert isinstance(gm, GroupManager)
    assert gm.elections == 1


@pytest.mark.parametrize("n", [2, 3, 4])
def test_all_links_down_every_node_alone_and_no_elections(n: int) -> None:
    ids = [f"n{i + 1}" for i in range(n)]
    vg = site(n, pairs(ids, 0.0))
    vg.run(5 * CYCLE_S)
    assert partition(vg) == {(i, (i,)) for i in ids}
    for node in vg.nodes.values():
        gm = node.core.modules["gm"]
        assert isinstance(gm, GroupManager)
        assert gm.elections == 0


def test_two_islands_form_two_groups_then_one_when_healed() -> None:
    ids = ["n1", "n2", "n3", "n4"]
    cut = {frozenset(p): 1.0 for p in itertools.product(["n1", "n2"], ["n3", "n4"])}
    vg = site(4, cut)
    vg.run(3 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2")), ("n3", ("n3", "n4"))}
    vg.set_faults(Faults())
    vg.run(2 * CYCLE_S)  # healed: one group within 2 GM cycles
    assert partition(vg) == {("n1", tuple(ids))}


def test_a_node_cut_off_leaves_within_two_cycles_and_rejoins() -> None:
    vg = site(3)
    vg.run(2 * CYCLE_S)
    vg.set_faults(Faults(cut=frozenset({"n3"})))
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2")), ("n3", ("n3",))}
    vg.set_faults(Faults())
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2", "n3"))}


def test_the_leader_cut_off_the_others_regroup_under_the_next() -> None:
    vg = site(3)
    vg.run(2 * CYCLE_S)
    vg.set_faults(Faults(cut=frozenset({"n1"})))
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1",)), ("n2", ("n2", "n3"))}
    vg.set_faults(Faults())
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2", "n3"))}


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("reliability", [0.5, 0.9])
def test_partial_links_never_break_a_node_and_heal_to_one_group(
    seed: int, reliability: float
) -> None:
    """Lossy links: groups come and go, but every node is always in exactly one group it
    believes in, and once the links are whole again one group forms within 2 cycles."""
    ids = ["n1", "n2", "n3", "n4"]
    vg = site(4, pairs(ids, reliability), seed=seed)
    for _ in range(6):
        vg.run(CYCLE_S)
        for node, group in groups(vg).items():
            assert node in group.members
    vg.set_faults(Faults())
    vg.run(3 * CYCLE_S)
    assert [members for _, members in partition(vg)] == [tuple(ids)]  # any one leader


def test_priority_rule() -> None:
    settings = GmSettings.from_timings(PROFILES["slow-5"])  # premerge 90..180 ms, 90 steps
    assert settings.premerge_wait(0) == 0.0  # the highest priority merges at once
    assert settings.premerge_wait(1) == pytest.approx(0.09)
    assert settings.premerge_wait(2) == pytest.approx(0.091)
    assert settings.premerge_wait(500) == pytest.approx(0.18)


def test_group_ids_are_unique_per_node_and_boot() -> None:
    a = GroupManager("a", ["a", "b"], GmSettings(), epoch=1)
    b = GroupManager("b", ["a", "b"], GmSettings(), epoch=1)
    rebooted = GroupManager("a", ["a", "b"], GmSettings(), epoch=2)
    assert len({a.group.id, b.group.id, rebooted.group.id}) == 3


def test_inputs_that_must_not_move_a_node() -> None:
    gm = GroupManager("b", ["a", "b", "c"], GmSettings(), epoch=1)
    gm.start_phase(0.0)
    before = gm.group
    cases = [
        ("x", PeerList("g", "b,x")),  # unknown sender
        ("a", PeerList("a.1.1", "a,b,zz")),  # not its leader, unknown member
        ("c", Invite("c.1.2", "a")),  # an invitation in another's name
        ("a", AreYouThereResponse(99, 0)),  # an answer nobody asked for
    ]
    for sender, message in cases:
        fx = gm.message(sender, message, 0.01)
        assert not [e for e in fx if isinstance(e, GroupChanged)], message
    assert gm.group == before
    assert sum(gm.dropped.values()) == len(cases)


def test_a_member_follows_the_peer_list_of_the_leader_it_accepted() -> None:
    gm = GroupManager("b", ["a", "b", "c"], GmSettings(), epoch=1)
    fx = gm.message("a", Invite("a.1.2", "a"), 0.0)
    assert any(isinstance(e, Send) and e.to == "a" for e in fx)  # Accept
    fx = gm.message("a", PeerList("a.1.2", "a,b,c"), 0.1)
    changed = [e.group for e in fx if isinstance(e, GroupChanged)]
    assert changed == [Group("a.1.2", "a", ("a", "b", "c"))]


def test_the_logger_shows_the_group_bit_field() -> None:
    """Bit 0: the node leads; bit n: the n-th node (ascending id) is in its group."""
    vg = site(4, {frozenset(p): 1.0 for p in itertools.product(["n1", "n2"], ["n3", "n4"])})
    vg.run(3 * CYCLE_S)
    bits = {n: node.group_bits for n, node in vg.nodes.items()}
    assert bits == {"n1": 0b00111, "n2": 0b00110, "n3": 0b11001, "n4": 0b11000}


def _sends(fx: list[Effect]) -> list[Send]:
    return [e for e in fx if isinstance(e, Send)]


def _timer(fx: list[Effect], kind: str) -> StartTimer:
    (timer,) = [e for e in fx if isinstance(e, StartTimer) and e.key[0] == kind]
    return timer


def test_every_question_is_asked_again_while_its_answer_is_due() -> None:
    """FREEDM's sequenced-reliable protocol resent GM messages; over UDP the node asks
    again every resend time within the time-out, so one lost datagram breaks no group."""
    settings = GmSettings(ayc_s=0.04, ayt_s=0.04, invite_s=0.06, resend_s=0.02)
    member = GroupManager("b", ["a", "b", "c"], settings, epoch=1)
    member.message("a", Invite("a.1.1", "a"), 0.0)
    member.message("a", PeerList("a.1.1", "a,b"), 0.0)
    assert member.group.leader == "a"
    fx = member.start_phase(1.0)  # a member asks its leader
    again = _timer(fx, "again")
    assert again.at == pytest.approx(1.02)
    fx = member.timer(again.key, again.at)
    (repeat,) = _sends(fx)  # no answer yet: asked again
    assert repeat.to == "a"
    assert not [e for e in fx if isinstance(e, StartTimer)]  # the time-out is next

    leader = GroupManager("a", ["a", "b", "c"], settings, epoch=1)
    fx = leader.start_phase(1.0)  # AreYouCoordinator to b and c
    leader.message("b", AreYouCoordinatorResponse(leader.seq, 1, "b", "b.1.1", ""), 1.001)
    again = _timer(fx, "again")
    assert [s.to for s in _sends(leader.timer(again.key, again.at))] == ["c"]  # not b again
    silent = leader.dropped.copy()
    leader.message("b", AreYouCoordinatorResponse(leader.seq, 1, "b", "b.1.1", ""), 1.03)
    assert leader.dropped == silent  # a second answer to a repeated question is no fault


def test_an_invited_node_accepts_a_repeated_invitation_again() -> None:
    gm = GroupManager("b", ["a", "b"], GmSettings(), epoch=1)
    (accept,) = _sends(gm.message("a", Invite("a.1.2", "a"), 0.0))
    (again,) = _sends(gm.message("a", Invite("a.1.2", "a"), 0.02))  # its Accept was lost
    assert again == accept
    assert not gm.dropped


def test_an_invitation_kept_past_its_window_is_dropped_at_the_phase_start() -> None:
    gm = GroupManager("b", ["a", "b"], GmSettings(invite_s=0.06), epoch=1)
    assert gm.keeps(Invite("a.1.2", "a"), 0.05)
    assert not gm.keeps(Invite("a.1.2", "a"), 0.5)  # its inviter formed its group long ago
    assert gm.keeps(PeerList("a.1.2", "a,b"), 5.0)
