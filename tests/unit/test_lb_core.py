"""The load-balancing core as scenario tables, driven directly (no wire, no clock)."""

from __future__ import annotations

import dataclasses

import pytest

from controller.core.effects import SetPStar
from controller.core.readings import Readings
from controller.lb.messages import (
    DraftAbort,
    DraftAccept,
    DraftCommit,
    DraftSelect,
    TooLate,
)
from controller.lb.settings import LbSettings
from tests.lb_link import Link

FREEDM = LbSettings(mode="freedm", step=1.0)
ADAPTIVE = LbSettings(mode="adaptive", tolerance=0.01, step_max=10.0)
POWER = {"S": (0.0, 5.0), "D": (0.0, -5.0), "N": (0.0, 0.0)}  # (G, NG) by state

# One round after the demand nodes announced themselves: who migrates to whom.
# FREEDM: every supply node selects the neediest demand node (equal ages: the first by id),
# one step each. Adaptive: supply nodes in id order move what is needed, so a demand node
# served once is not served again.
COMBINATIONS = [
    ("NNN", "", ""), ("NNS", "", ""), ("NND", "", ""),
    ("NSN", "", ""), ("NSS", "", ""), ("NSD", "b>c", "b>c"),
    ("NDN", "", ""), ("NDS", "c>b", "c>b"), ("NDD", "", ""),
    ("SNN", "", ""), ("SNS", "", ""), ("SND", "a>c", "a>c"),
    ("SSN", "", ""), ("SSS", "", ""), ("SSD", "a>c b>c", "a>c"),
    ("SDN", "a>b", "a>b"), ("SDS", "a>b c>b", "a>b"), ("SDD", "a>b", "a>b"),
    ("DNN", "", ""), ("DNS", "c>a", "c>a"), ("DND", "", ""),
    ("DSN", "b>a", "b>a"), ("DSS", "b>a c>a", "b>a"), ("DSD", "b>a", "b>a"),
    ("DDN", "", ""), ("DDS", "c>a", "c>a"), ("DDD", "", ""),
]  # fmt: skip


def pairs(link: Link) -> str:
    return " ".join(f"{s}>{d}" for s, d, _ in sorted(link.migrations()))


@pytest.mark.parametrize(
    ("states", "freedm", "adaptive"), COMBINATIONS, ids=[c[0] for c in COMBINATIONS]
)
def test_who_migrates_to_whom(states: str, freedm: str, adaptive: str) -> None:
    for settings, expected, amount in ((FREEDM, freedm, 1.0), (ADAPTIVE, adaptive, 5.0)):
        link = Link.of(settings, **{n: POWER[s] for n, s in zip("abc", states, strict=True)})
        link.start_phase()
        link.cycle()  # demand nodes announce themselves
        assert [link.state(n) for n in "abc"] == [
            {"S": "supply", "D": "demand", "N": "normal"}[s] for s in states
        ]
        link.cycle()  # supply nodes request, select, and the demand nodes answer
        assert pairs(link) == expected, settings.mode
        assert all(a == amount for _, _, a in link.migrations())


def test_freedm_worked_example_step_by_step() -> None:
    """docs/algorithm.md "The worked example": NG = (+10, -10, 0), gateways 0, step 1: ten
    migrations A → B."""
    link = Link.of(FREEDM, a=(0.0, 10.0), b=(0.0, -10.0), c=(0.0, 0.0))
    link.start_phase()
    link.cycle()
    assert [link.state(n) for n in "abc"] == ["supply", "demand", "normal"]
    for n in range(1, 11):
        link.cycle()
        ages = [m.age for _, to, m in link.sent if to == "a" and type(m).__name__ == "DraftAge"]
        assert ages[-1] == 10.0 - (n - 1)  # B answers G - NG before this migration
        assert link.plants["a"].pstar == n
        assert link.plants["b"].pstar == -n
    link.cycle()
    assert [link.state(n) for n in "abc"] == ["normal", "normal", "normal"]
    assert (link.plants["a"].gateway, link.plants["b"].gateway, link.plants["c"].gateway) == (
        10.0,
        -10.0,
        0.0,
    )
    assert len(link.migrations()) == 10


def test_freedm_too_late_rolls_the_supply_back() -> None:
    link = Link.of(FREEDM, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.cycle()
    link.round()
    link.deliver()  # DraftRequest → DraftAge(5) back at A
    link.plants["b"].net_generation = 0.0  # B's load drops before the select arrives
    link.cores["b"].net_generation = 0.0
    k_before = link.cores["a"].k
    link.fire("window")  # A selects: PStar 1 at once (optimistic), B answers TooLate
    assert ("a", 1.0) in link.setpoints
    assert any(isinstance(m, TooLate) for _, _, m in link.sent)
    assert link.plants["a"].pstar == 0.0  # rolled back
    assert link.cores["a"].k == k_before  # +step at select, -step at TooLate
    assert link.plants["b"].pstar == 0.0


@pytest.mark.parametrize(
    "settings",
    [FREEDM, dataclasses.replace(ADAPTIVE, early_close=False)],
    ids=["freedm", "adaptive"],
)
def test_a_select_that_arrives_after_the_devices_went_stale_is_refused(
    settings: LbSettings,
) -> None:
    """The demand answered its age; then its devices stopped answering. It must not write
    a setpoint for the select already on its way (FREEDM's own code accepted it)."""
    link = Link.of(settings, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.cycle()
    link.round()
    link.deliver()  # DraftRequest → DraftAge(5) back at A
    demand = link.cores["b"]
    demand.readings = dataclasses.replace(demand.readings, fresh=False)
    link.fire("window")  # A selects; B refuses
    link.deliver()
    assert any(isinstance(m, TooLate) for s, _, m in link.sent if s == "b")
    assert link.plants["b"].pstar == 0.0
    assert link.plants["a"].pstar == 0.0  # rolled back (FREEDM) or never raised (adaptive)


@pytest.mark.parametrize("settings", [FREEDM, ADAPTIVE], ids=["freedm", "adaptive"])
def test_logger_disabled_writes_the_gateway_back(settings: LbSettings) -> None:
    link = Link.of(settings, a=(3.0, 8.0), b=(0.0, -5.0))
    link.plants["a"].pstar = 4.0  # the SST lags its setpoint: measured 3, commanded 4
    link.plants["a"].dgi_enable = False
    link.start_phase()
    link.cycle()
    link.cycle()
    assert link.setpoints
    assert all(sp == ("a", 3.0) for sp in link.setpoints if sp[0] == "a")
    # a disabled node drafts nothing (its peers see its state through state collection)
    assert not [m for s, _, m in link.sent if s == "a"]
    assert any(n.kind == "enable" and "disabled" in n.text for _, n in link.notes)
    link.plants["a"].dgi_enable = True
    link.cycle()
    assert any(n.kind == "enable" and "enabled" in n.text for _, n in link.notes)


def test_freedm_malicious_node_drops_selects_and_the_imbalance_stays() -> None:
    link = Link.of(FREEDM, a=(0.0, 5.0), b=(0.0, -5.0))
    link.cores["b"].settings = LbSettings(mode="freedm", malicious=True)
    link.start_phase()
    for _ in range(4):
        link.cycle()
    assert link.plants["b"].pstar == 0.0  # never answers, never changes
    assert link.plants["a"].pstar == 3.0  # three optimistic steps nobody took
    assert not [m for s, _, m in link.sent if s == "b" and isinstance(m, (DraftAccept, TooLate))]


def test_adaptive_malicious_node_cannot_unbalance_the_group() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.cores["b"].settings = LbSettings(mode="adaptive", malicious=True)
    link.start_phase()
    for _ in range(4):
        link.cycle()
        link.fire()  # resends, then the lease ends
    assert link.plants["a"].pstar == 0.0  # the supply applies nothing until an accept
    assert link.plants["b"].pstar == 0.0
    assert any(n.kind == "abort" for _, n in link.notes)


@pytest.mark.parametrize(("frequency", "migrates"), [(375.8, True), (377.8, False)])
def test_invariant_gates_the_draft_request(frequency: float, migrates: bool) -> None:
    settings = LbSettings(mode="freedm", check_invariant=True)
    link = Link.of(settings, a=(0.0, 5.0), b=(0.0, -5.0))
    link.plants["a"].frequency = frequency
    link.start_phase()
    link.cycle()
    link.cycle()
    assert bool(link.migrations()) is migrates
    assert any(n.kind == "invariant" for _, n in link.notes) is not migrates


def test_invariant_is_ignored_without_the_switch() -> None:
    link = Link.of(FREEDM, a=(0.0, 5.0), b=(0.0, -5.0))
    link.plants["a"].frequency = 377.8
    link.start_phase()
    link.cycle()
    link.cycle()
    assert link.migrations()


def test_no_drafting_before_synchronisation() -> None:
    link = Link.of(FREEDM, a=(0.0, 5.0), b=(0.0, -5.0))  # no start_phase: never synchronised
    link.cycle()
    link.cycle()
    assert not link.migrations()
    assert any("state too old" in n.text for _, n in link.notes)


@pytest.mark.parametrize("settings", [FREEDM, ADAPTIVE], ids=["freedm", "adaptive"])
def test_stale_devices_stop_drafting(settings: LbSettings) -> None:
    link = Link.of(settings, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.cycle()
    link.plants["a"].fresh = False
    link.cycle()
    assert not link.migrations()
    assert link.state("a") == "normal"


def test_freedm_versus_adaptive_on_the_same_inputs() -> None:
    """Four substations (6, 2, 11, 20 with net generations 10, 10, 10, 9)."""
    start = {"a": (6.0, 10.0), "b": (2.0, 10.0), "c": (11.0, 10.0), "d": (20.0, 9.0)}
    results = {}
    for settings in (FREEDM, LbSettings(mode="adaptive", tolerance=0.05)):
        link = Link.of(settings, **start)
        link.start_phase()
        rounds = 0
        while rounds < 40 and (rounds == 0 or any(link.state(n) != "normal" for n in link.cores)):
            link.cycle()
            rounds += 1
        spread = max(abs(p.gateway - p.net_generation) for p in link.plants.values())
        results[settings.mode] = (rounds, len(link.migrations()), spread)
        assert sum(p.pstar for p in link.plants.values()) == sum(g for g, _ in start.values())
    assert results["freedm"][1] == 12  # twelve one-step migrations
    assert results["freedm"][2] < FREEDM.step
    assert results["adaptive"][1] <= 4  # sized: a few migrations
    assert results["adaptive"][2] <= 0.05
    assert results["adaptive"][0] < results["freedm"][0]


# -- adaptive transactions ----------------------------------------------------------------------


def test_adaptive_partial_accept_never_over_serves() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 4.0), b=(0.0, 8.0), d=(0.0, -9.0))
    link.start_phase()
    link.cycle()
    link.cycle()
    taken = {s: a for s, _, a in link.migrations()}
    assert taken == {"a": 4.0, "b": 5.0}  # b offered 8, d needed only 5 more
    assert link.plants["d"].pstar == -9.0


def test_adaptive_duplicate_select_is_answered_again_not_applied_again() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.cycle()
    link.round()
    link.deliver()
    select = next(m for s, _, m in link.sent if isinstance(m, DraftSelect))
    writes = len(link.setpoints)
    link.apply("b", link.cores["b"].message("a", select, link.now))  # the same select again
    assert len(link.setpoints) == writes
    assert isinstance(link.sent[-1][2], DraftAccept)
    assert link.plants["b"].pstar == -5.0


def test_adaptive_lost_commit_is_recovered_by_repeating_the_accept() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.lost = {"DraftCommit"}
    link.start_phase()
    link.cycle()
    link.round()
    link.deliver()
    assert link.plants["a"].pstar == 5.0  # the supply committed on the accept
    assert link.cores["b"].migrations_in == 0  # but B never heard
    link.lost = set()
    link.fire("confirm")  # B repeats its accept; A repeats its commit
    assert link.cores["b"].migrations_in == 1
    assert sum(p.pstar for p in link.plants.values()) == 0.0


def test_adaptive_lost_accept_ends_in_abort_and_rollback() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.lost = {"DraftAccept"}
    link.start_phase()
    link.cycle()
    link.round()
    link.deliver()
    assert link.plants["b"].pstar == -5.0  # provisional at B
    link.fire("lease")  # A hears nothing: aborted, nothing applied at A
    assert link.plants["a"].pstar == 0.0
    link.lost = set()
    link.fire("confirm")  # B's repeated accept now arrives: A answers abort, B gives back
    assert link.plants["b"].pstar == 0.0
    assert any(n.kind == "rollback" for _, n in link.notes)


def test_adaptive_commit_for_an_unknown_transaction_changes_nothing() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.apply("b", link.cores["b"].message("a", DraftCommit(12345), 0.0))
    link.apply("a", link.cores["a"].message("b", DraftAccept(999, 1.0), 0.0))
    assert not link.setpoints
    assert link.sent[-1] == ("a", "b", DraftAbort(999))  # unknown: presumed aborted
    assert any(n.kind == "unknown_tx" for _, n in link.notes)


def test_adaptive_respects_the_sst_rating() -> None:
    link = Link.of(ADAPTIVE, a=(95.0, 200.0), b=(0.0, -50.0))
    link.start_phase()
    for _ in range(5):
        link.cycle()
    assert link.plants["a"].pstar == 100.0  # the rating, not the 105 of surplus
    assert link.plants["b"].pstar == -5.0


def test_adaptive_converges_within_tolerance_not_within_a_step() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 0.4), b=(0.0, -0.1), c=(0.0, -0.3))
    link.start_phase()
    for _ in range(4):
        link.cycle()
    assert max(abs(p.gateway - p.net_generation) for p in link.plants.values()) <= 0.01


def test_adaptive_supply_disabled_before_the_accept_aborts_and_the_demand_gives_back() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.start_phase()
    link.cycle()
    link.round()  # a offers; the answer is still on the wire
    link.deliver_until(lambda sender, target, message: isinstance(message, DraftAccept))
    link.cores["a"].readings = dataclasses.replace(link.cores["a"].readings, dgi_enable=False)
    link.deliver()
    assert link.plants["a"].pstar == 0.0
    assert link.plants["b"].pstar == 0.0  # rolled back on DraftAbort
    assert any(n.kind == "abort" for _, n in link.notes)


# -- the command and the device ------------------------------------------------------------------


def test_a_supply_whose_device_will_not_follow_offers_nothing() -> None:
    """Its SST keeps its own setpoint (local mode): a disagreement, written again every round
    — and no drafts, so the healthy peer's setpoint does not swing back and forth."""
    link = Link.of(ADAPTIVE, a=(0.0, 5.0), b=(0.0, -5.0))
    link.plants["a"].ignores_writes = True
    link.plants["a"].pstar = 3.0  # overridden locally, before the first round is judged
    link.cores["a"].ledger.start(0.0, 0.0, 0.0, -1.0)
    link.start_phase()
    for _ in range(6):
        link.cycle()
        link.fire()
    assert link.cores["a"].disagreement is not None
    assert link.cores["a"].disagreements == 1
    assert not [m for s, _, m in link.sent if s == "a" and isinstance(m, (DraftSelect,))]
    assert link.plants["b"].pstar == 0.0
    assert [k for k in (e["kind"] for e in link.cores["a"].ledger.recent()) if k == "reassert"]


def test_a_setpoint_that_reads_no_value_after_a_reboot_is_written_again() -> None:
    link = Link.of(ADAPTIVE, a=(-2.0, -2.0), b=(2.0, 2.0))
    link.start_phase()
    link.cycle()
    link.plants["a"].no_value = True
    link.cycle()
    assert link.cores["a"].disagreement is not None
    assert link.cores["a"].disagreement.held is None
    assert any("holds no value" in n.text for _, n in link.notes)
    link.plants["a"].no_value = False
    link.cycle()
    link.cycle()
    assert link.cores["a"].disagreement is None


def test_freedm_never_commands_beyond_the_rating() -> None:
    """FREEDM's optimistic step at the rating: clamped, the shortfall a ``limit`` adjustment."""
    link = Link.of(FREEDM, a=(100.0, 105.0), b=(0.0, -5.0))
    link.start_phase()
    for _ in range(3):
        link.cycle()
    assert max(kw for node, kw in link.setpoints if node == "a") == 100.0
    ledger = link.cores["a"].ledger
    assert ledger.command == 100.0
    assert ledger.initial + ledger.migrated + ledger.adjusted == ledger.command
    assert any(e["kind"] == "limit" for e in ledger.recent())


def test_a_refused_write_takes_the_node_back_to_what_the_device_holds() -> None:
    link = Link.of(ADAPTIVE, a=(0.0, 0.0))
    link.start_phase()
    link.cycle()
    core = link.cores["a"]
    effects = core.command_failed(core.ledger.seq, "outside -100..100", 1.0, refused=True)
    assert not effects  # the newest entry (its start) is what the device holds: nothing to do
    core._set_pstar(7.0, "hold", 1.0, [])
    effects = core.command_failed(core.ledger.seq, "outside -5..5", 1.0, refused=True)
    assert [type(e).__name__ for e in effects] == ["Note", "Persist", "SetPStar"]
    assert core.ledger.command == 0.0
    assert core.write_failing


def test_storage_tracks_its_load_within_the_battery_limits() -> None:
    """Under storage actuation the battery follows generation and drain so the export stays
    at the command; where the battery cannot (its power limit), a ``limit`` adjustment
    brings the command to what it can hold — never a write the battery would refuse."""
    from controller.core.readings import DeviceView, readings_from
    from controller.lb.core import LoadBalancer

    def readings(generation: float, storage_setpoint: float, mark: float) -> Readings:
        views = [
            DeviceView("pv", "Drer", {"generation": generation}, {}, {}, read_mark=mark),
            DeviceView("load", "Load", {"drain": 30.0}, {}, {}, read_mark=mark),
            DeviceView("sst", "Sst", {"gateway": 0.0}, {}, {}, read_mark=mark),
            DeviceView("bat", "Desd", {"storage": storage_setpoint},
                       {"storage": storage_setpoint}, {"storage": (-50.0, 50.0)}, read_mark=mark),
        ]  # fmt: skip
        return readings_from(views, actuation="desd")

    lb = LoadBalancer("a", ADAPTIVE, epoch=1)
    lb.round(readings(10.0, 40.0, 0.0), 0.0)  # exports 10 + 40 - 30 = 20
    assert lb.ledger.command == 20.0
    fx = lb.round(readings(20.0, 40.0, 1.0), 1.0)  # more sun: the battery gives 10 less
    assert [e.setpoint for e in fx if isinstance(e, SetPStar)] == [30.0]
    lb.command_acked(lb.ledger.seq, 30.0, 1.5)
    fx = lb.round(readings(-10.0, 30.0, 2.0), 2.0)  # less: 60 needed, the battery gives 50
    writes = [e for e in fx if isinstance(e, SetPStar)]
    assert [(w.kw, w.setpoint) for w in writes] == [(10.0, 50.0)]
    assert lb.ledger.command == 10.0
    assert lb.ledger.adjusted == -10.0  # what the battery could not hold
