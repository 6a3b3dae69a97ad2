"""Group management with a physical topology, in virtual time with the real node cores and
wire: a node whose Fids open leaves its group within two GM cycles and is invited back when
they close; unknown Fid states count as open; a node is believed only about its own Fids."""

from __future__ import annotations

import pytest

from config.topology import Topology, parse_topology
from controller.core.effects import Send
from controller.core.messages import InvalidMessage, Limits, validate
from controller.gm.core import GroupManager
from controller.gm.messages import (
    Accept,
    AreYouCoordinator,
    AreYouCoordinatorResponse,
    AreYouThere,
    fids_text,
    parse_fids,
)
from controller.gm.settings import GmSettings
from controller.lb.settings import LbSettings
from controller.virtual.group import VirtualGroup
from tests.unit.test_gm import CYCLE_S, partition

IDS = ["n1", "n2", "n3"]
#: Three substations on one bus, each through its own switch.
STAR = """\
edge bus A
edge bus B
edge bus C
fid bus A f1
fid bus B f2
fid bus C f3
sst A n1
sst B n2
sst C n3
"""
STAR_FIDS = {"f1": ("Fid", "n1"), "f2": ("Fid", "n2"), "f3": ("Fid", "n3")}
#: Four substations on a ring; each ring segment has a switch at each end.
RING = """\
edge A B
edge B C
edge C D
edge D A
fid A B n1-east
fid A B n2-west
fid B C n2-east
fid B C n3-west
fid C D n3-east
fid C D n4-west
fid D A n4-east
fid D A n1-west
sst A n1
sst B n2
sst C n3
sst D n4
"""
RING_FIDS = {f"n{i}-{side}": ("Fid", f"n{i}") for i in range(1, 5) for side in ("east", "west")}


def topology(text: str, nodes: list[str], fids: dict[str, tuple[str, str]]) -> Topology:
    found, issues = parse_topology(text, "topology.cfg", nodes, fids)
    assert issues == []
    return found


def site(
    text: str = STAR, n: int = 3, fids: dict[str, tuple[str, str]] = STAR_FIDS
) -> VirtualGroup:
    ids = [f"n{i + 1}" for i in range(n)]
    return VirtualGroup(
        gateways=[0.0] * n,
        net_generations=[0.0] * n,
        settings=LbSettings(mode="adaptive"),
        group_management=True,
        topology=topology(text, ids, fids),
    )


def test_all_fids_closed_one_group() -> None:
    vg = site()
    vg.run(3 * CYCLE_S)  # a node reports its Fids from its first round on
    assert partition(vg) == {("n1", tuple(IDS))}


def test_a_member_whose_fid_opens_leaves_within_two_cycles_and_comes_back() -> None:
    vg = site()
    vg.run(3 * CYCLE_S)
    vg.set_fid("n3", "f3", False)
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2")), ("n3", ("n3",))}
    gm = vg.nodes["n1"].core.modules["gm"]
    assert isinstance(gm, GroupManager)
    elections = gm.elections
    vg.run(3 * CYCLE_S)  # stays apart: no merge with a coordinator out of reach
    assert partition(vg) == {("n1", ("n1", "n2")), ("n3", ("n3",))}
    assert gm.elections == elections
    vg.set_fid("n3", "f3", True)
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", tuple(IDS))}


def test_leaving_takes_one_cycle_after_the_switch_is_read() -> None:
    """The member is answered "no" at its next AreYouThere; the leader pushes the new peer
    list in the same GM phase."""
    vg = site()
    vg.run(3 * CYCLE_S)
    vg.set_fid("n2", "f2", False)
    vg.run(CYCLE_S)  # one LB phase reads it, the next GM phase acts on it
    assert partition(vg) == {("n1", ("n1", "n3")), ("n2", ("n2",))}
    notes = [n.text for _, node, n in vg.notes if node == "n1" and n.kind == "gm"]
    assert notes[-1].endswith("(n2 not reachable through closed Fids)")


def test_the_leader_whose_fid_opens_is_left_alone_and_invites_them_back() -> None:
    vg = site()
    vg.run(3 * CYCLE_S)
    vg.set_fid("n1", "f1", False)
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1",)), ("n2", ("n2", "n3"))}
    vg.set_fid("n1", "f1", True)
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", tuple(IDS))}


def test_an_unknown_fid_state_is_open() -> None:
    """A Fid that does not answer (left out of the readings) is unknown: open."""
    vg = site()
    vg.run(3 * CYCLE_S)
    del vg.nodes["n3"].plant.fids["f3"]
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n2")), ("n3", ("n3",))}
    vg.nodes["n3"].plant.fids["f3"] = True
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", tuple(IDS))}


def test_a_ring_holds_with_one_switch_open_and_splits_with_two() -> None:
    ids = ("n1", "n2", "n3", "n4")
    vg = site(RING, 4, RING_FIDS)
    vg.run(3 * CYCLE_S)
    assert partition(vg) == {("n1", ids)}
    vg.set_fid("n2", "n2-west", False)  # A-B open: B still reached through C
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ids)}
    vg.set_fid("n4", "n4-west", False)  # and C-D: the ring is in two pieces
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ("n1", "n4")), ("n2", ("n2", "n3"))}
    vg.set_fid("n2", "n2-west", True)
    vg.run(2 * CYCLE_S)
    assert partition(vg) == {("n1", ids)}


def test_without_a_topology_no_fids_travel() -> None:
    gm = GroupManager("a", ["a", "b"], GmSettings(), epoch=1)
    gm.own_fids([("f1", False)])
    fx = gm.message("b", AreYouCoordinator(1), 0.0)
    answers = [e.message for e in fx if isinstance(e, Send)]
    assert answers == [AreYouCoordinatorResponse(1, 1, "a", gm.group.id, "")]


def test_a_node_is_believed_only_about_its_own_fids() -> None:
    text = "edge A B\nfid A B fa\nfid A B fb\nsst A a\nsst B b\n"
    top = topology(text, ["a", "b"], {"fa": ("Fid", "a"), "fb": ("Fid", "b")})
    gm = GroupManager("a", ["a", "b"], GmSettings(), epoch=1, topology=top)
    gm.own_fids([("fa", False), ("elsewhere", True)])  # not a Fid of the topology: ignored
    assert gm.reach.own == {"fa": False}
    gm.start_phase(0.0)
    gm.message("b", AreYouCoordinatorResponse(gm.seq, 1, "b", "b.1.1", "fa=1,fb=1"), 0.01)
    assert gm.reach.reported == {"b": {"fb": True}}
    assert gm.dropped["foreign_fids"] == 1
    assert gm.coordinators == set()  # fa is open, whatever b says


@pytest.mark.parametrize(
    "message",
    [
        AreYouThere("g", 1, "f1=2"),
        AreYouThere("g", 1, "f1=1,f1=0"),
        Accept("g", "f1"),
        Accept("g", "f 1=1"),
        AreYouCoordinatorResponse(1, 1, "a", "g", "f1=1,"),
        AreYouCoordinatorResponse(1, 1, "a", "g", ",".join(f"fid-{i}=1" for i in range(800))),
    ],
)
def test_bad_fid_lists_are_refused(message: AreYouThere | Accept) -> None:
    with pytest.raises(InvalidMessage):
        validate(message, Limits(1000.0))


def test_fid_lists_round_trip() -> None:
    assert fids_text({"f2": False, "f1": True}) == "f1=1,f2=0"
    assert parse_fids("f1=1,f2=0") == {"f1": True, "f2": False}
    assert parse_fids("") == {}
