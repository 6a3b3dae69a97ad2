"""A node killed in the middle of a migration and started again loses nothing: its journal
(``controller.lb.journal``) brings back its command, the transactions it committed and the
amounts it took without a decision. Judged on the devices (the plants' held setpoints);
each case also runs without the journal, to show what it prevents. Pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.core.effects import Effect, Persist, Send, SetPStar
from controller.core.group import Group
from controller.lb.core import LoadBalancer
from controller.lb.journal import Journal, JournalError
from controller.lb.messages import DraftAccept, DraftCommit
from controller.lb.settings import LbSettings
from controller.lb.transactions import COMMITTED
from controller.node.state_store import StateStore
from controller.virtual.group import DeviceTiming, VirtualGroup
from tests.lb_link import Link

ADAPTIVE = LbSettings(mode="adaptive", tolerance=0.01, step_max=10.0)


def link() -> Link:
    return Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))  # a has 5 kW to spare, b needs 5


def restart(link: Link, node: str, *, journal: bool) -> None:
    """SIGKILL and a new process: a new core (boot epoch), the same device."""
    core = LoadBalancer(node, ADAPTIVE, epoch=100 + len(link.cores))
    core.group_changed(Group.static(link.plants), link.now)
    if journal:
        core.restore(Journal.from_data(link.saved[(node, "lb")], node), link.now)
    link.cores[node] = core


def changes(link: Link) -> float:
    """Σ (held setpoint − initial) on the devices (both started at 0)."""
    return sum(plant.pstar for plant in link.plants.values())


def settle(link: Link) -> None:
    for _ in range(30):
        link.start_phase()
        link.cycle()
        link.fire()
        link.now += 0.5


def offer_until(link: Link, kind: type) -> None:
    """Run until the first message of ``kind`` is on the wire, undelivered."""
    link.start_phase()
    for _ in range(10):
        link.round()
        link.deliver_until(lambda sender, target, message: isinstance(message, kind))
        if link.wire and isinstance(link.wire[0][2], kind):
            return
        link.fire("window")
        link.now += 0.1
    raise AssertionError(f"no {kind.__name__}")


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "no-journal"])
def test_a_supply_killed_after_committing_is_still_committed_after_its_restart(
    journal: bool,
) -> None:
    net = link()
    offer_until(net, DraftCommit)  # a committed and raised its PStar; the commit is in flight
    assert net.plants["a"].pstar == 5.0
    assert net.plants["b"].pstar == -5.0
    net.wire.clear()  # a dies with it
    restart(net, "a", journal=journal)
    settle(net)  # b asks again; the new a answers
    if journal:
        assert changes(net) == 0.0
        assert net.cores["b"].migrations_in == 1
    else:  # the new a presumes "aborted": b gives its half back, a's device keeps its own
        assert changes(net) != 0.0


@pytest.mark.parametrize("journal", [True, False], ids=["journal", "no-journal"])
def test_a_demand_killed_after_taking_gives_an_aborted_amount_back_after_its_restart(
    journal: bool,
) -> None:
    net = link()
    offer_until(net, DraftAccept)  # b took 5 provisionally (wrote it); its accept is in flight
    assert net.plants["b"].pstar == -5.0
    net.wire.clear()  # b dies; a's lease runs out: aborted
    net.now += 1.0
    net.fire("lease")
    assert net.plants["a"].pstar == 0.0
    restart(net, "b", journal=journal)
    settle(net)
    if journal:
        assert changes(net) == 0.0
        assert any(n.kind == "rollback" for node, n in net.notes if node == "b")
    else:  # nobody remembers b's half: its device keeps it
        assert changes(net) == -5.0


def test_the_command_comes_back_whatever_the_device_holds_after_the_restart() -> None:
    net = link()
    offer_until(net, DraftCommit)
    net.deliver()
    net.plants["a"].pstar = net.plants["a"].gateway = 0.0  # the SST rebooted meanwhile
    restart(net, "a", journal=True)
    net.start_phase()
    net.round()
    assert net.plants["a"].pstar == 5.0  # written again: the "restore" ledger entry
    assert [e["kind"] for e in net.cores["a"].ledger.recent()][-2:] == ["start", "restore"]


def test_a_journal_older_than_the_peers_memory_is_not_taken_up() -> None:
    net = link()
    offer_until(net, DraftCommit)
    net.deliver()
    net.now += ADAPTIVE.retention_s + 1
    restart(net, "a", journal=True)
    net.start_phase()
    net.round()
    assert net.cores["a"].ledger.command == 5.0  # what the device holds, no restore entry
    assert any(n.kind == "journal" and "old" in n.text for node, n in net.notes if node == "a")


def test_journal_data_round_trips_and_bad_data_is_named() -> None:
    net = link()
    offer_until(net, DraftCommit)
    data = net.saved[("a", "lb")]
    journal = Journal.from_data(json.loads(json.dumps(data)), "a")
    assert journal.command == 5.0
    assert len(journal.committed) == 1
    with pytest.raises(JournalError, match="written by node 'a', not 'b'"):
        Journal.from_data(data, "b")
    with pytest.raises(JournalError, match="version"):
        Journal.from_data({**data, "version": 99}, "a")
    with pytest.raises(JournalError, match="malformed"):
        Journal.from_data({**data, "command": "NaN"}, "a")
    with pytest.raises(JournalError, match="malformed"):
        Journal.from_data({**data, "taken": [[1, 2]]}, "a")


def test_the_state_store_keeps_the_last_whole_state_and_sets_a_bad_file_aside(
    tmp_path: Path,
) -> None:
    store = StateStore(tmp_path / "state", "sst1")
    assert store.load("lb") is None
    store.save("lb", {"x": 1})
    store.save("lb", {"x": 2})
    assert store.load("lb") == {"x": 2}
    with store.path("lb").open("ab") as file:
        file.write(b'{"x": 3, "half a li')  # killed in the middle of a save
    assert StateStore(tmp_path / "state", "sst1").load("lb") == {"x": 2}
    store.close()
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["sst1.lb.jsonl"]
    store.path("lb").write_text("not json at all\n")
    assert store.load("lb") is None
    assert (tmp_path / "state" / "sst1.lb.bad").exists()
    blocked = StateStore(tmp_path / "file", "sst1")
    (tmp_path / "file").write_text("not a directory")
    blocked.save("lb", {"x": 3})  # logged and counted, never raised
    assert blocked.errors == 1


def test_the_state_store_compacts_to_the_last_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("controller.node.state_store.COMPACT_BYTES", 200)
    store = StateStore(tmp_path, "n")
    for n in range(50):
        store.save("lb", {"n": n, "pad": "x" * 20})
    assert store.path("lb").stat().st_size <= 200
    assert store.load("lb") == {"n": 49, "pad": "x" * 20}
    store.close()


def test_a_peer_asking_before_the_first_fresh_round_gets_the_journaled_decision() -> None:
    """The restarted supply's transactions count from its start, not its first fresh round
    (found in review: it answered "aborted" to an accept that came first)."""
    net = link()
    offer_until(net, DraftCommit)
    net.wire.clear()
    restart(net, "a", journal=True)
    net.fire("confirm")  # b asks again before a's first round
    assert [type(m).__name__ for s, _, m in net.sent if s == "a"][-1] == "DraftCommit"
    settle(net)
    assert changes(net) == 0.0


@pytest.mark.parametrize("down_ms", range(0, 2500, 97))
def test_a_supply_killed_as_it_commits_loses_nothing_whenever_it_returns(down_ms: int) -> None:
    """Real cores in virtual time, devices with latency: the supply dies the moment its
    DraftCommit leaves (lost with it) and comes back after 0–2.5 s, in any phase."""
    group = VirtualGroup(
        gateways=[0.0, 0.0],
        net_generations=[5.0, -5.0],
        settings=ADAPTIVE,
        seed=down_ms,
        devices=DeviceTiming(read_s=(0.01, 0.02), write_s=(0.001, 0.002)),
    )
    carry, armed = group.network.carry, [True]

    def carried(source: str, to: str, data: bytes) -> None:
        supply = group.lb("n1").supply_tx.values()
        if armed[0] and source == "n1" and any(t.state == COMMITTED for t in supply):
            armed[0] = False
            group.crash("n1")
            return
        if not group.nodes[source].down:
            carry(source, to, data)

    group.network.carry = carried  # type: ignore[method-assign]
    while armed[0] and group.now < 1_000_020.0:
        group.run(0.001)
    assert not armed[0], "a migration was committed"
    group.run(down_ms / 1000)
    group.restart("n1")
    group.run(6.0)
    assert group.setpoint_sum_change() == 0.0
    assert group.balanced(0.01)


def test_freedm_mode_journals_and_writes_before_it_tells_the_peer() -> None:
    net = Link.of(LbSettings(mode="freedm", step=1.0), a=(0.0, 5.0), b=(0.0, -5.0))
    order: list[str] = []
    apply = net.apply

    def noted(node: str, effects: list[Effect]) -> None:
        order.extend(
            f"{node} {type(e).__name__}"
            for e in effects
            if isinstance(e, Persist | SetPStar | Send)
        )
        apply(node, effects)

    net.apply = noted  # type: ignore[method-assign]
    net.start_phase()
    for _ in range(3):
        net.cycle()
    persisted = order.index("a Persist")  # a's optimistic step: journal, write, then tell b
    assert order[persisted : persisted + 3] == ["a Persist", "a SetPStar", "a Send"], order
    persisted = order.index("b Persist")  # b's acceptance likewise
    assert order[persisted : persisted + 3] == ["b Persist", "b SetPStar", "b Send"], order


def test_a_journal_with_a_number_too_large_is_refused_not_a_crash() -> None:
    net = link()
    offer_until(net, DraftCommit)
    data = {**net.saved[("a", "lb")], "command": 10**400}
    with pytest.raises(JournalError, match="malformed"):
        Journal.from_data(data, "a")
