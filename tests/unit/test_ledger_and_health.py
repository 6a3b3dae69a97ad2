"""The command ledger and device health as tables (pure)."""

from __future__ import annotations

import pytest

from controller.core.health import DeviceHealth
from controller.lb.ledger import Ledger


def test_the_command_is_the_start_plus_the_entries() -> None:
    ledger = Ledger()
    ledger.start(-20.0, -20.0, 0.0, 0.0)
    for kind, pstar in (("supply", -15.0), ("demand", -18.0), ("rollback", -15.0),
                        ("hold", -14.5), ("adopt", -10.0), ("reassert", -10.0)):  # fmt: skip
        ledger.record(kind, pstar, pstar, 1.0)
    assert ledger.command == -10.0
    assert ledger.migrated == pytest.approx(5.0)  # +5 -3 +3
    assert ledger.adjusted == pytest.approx(5.0)  # +0.5 +4.5
    assert ledger.initial + ledger.migrated + ledger.adjusted == ledger.command
    assert [e["kind"] for e in ledger.recent(3)] == ["hold", "adopt", "reassert"]


def test_a_write_again_cannot_change_the_command() -> None:
    ledger = Ledger()
    ledger.start(0.0, 0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="a reassert entry cannot change the command"):
        ledger.record("reassert", 1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("acks", "read_mark", "comparable"),
    [
        ([], 5.0, False),  # the write is not acknowledged: the device may hold either value
        ([(2, 3.0)], 2.0, False),  # read sent before the acknowledgement
        ([(2, 3.0)], 3.0, True),
        ([(2, 3.0)], None, False),
        ([(1, 3.0)], 5.0, False),  # an older write acknowledged; the newest still pending
    ],
    ids=["pending", "read-before-ack", "read-after-ack", "no-read", "older-ack"],
)
def test_a_reading_is_compared_only_when_younger_than_the_acknowledged_command(
    acks: list[tuple[int, float]], read_mark: float | None, comparable: bool
) -> None:
    ledger = Ledger()
    ledger.start(0.0, 0.0, 0.0, 0.0)  # seq 1, acknowledged by the reading at 0
    ledger.record("demand", -1.0, -1.0, 1.0)  # seq 2
    for seq, at in acks:
        ledger.acked(seq, -1.0, at)
    assert ledger.comparable(read_mark) is comparable


def test_an_older_acknowledgement_changes_nothing() -> None:
    ledger = Ledger()
    ledger.start(0.0, 0.0, 0.0, 0.0)
    ledger.record("demand", -1.0, -1.0, 1.0)
    ledger.record("demand", -2.0, -2.0, 1.1)
    assert ledger.pending_since == 1.0
    assert ledger.acked(3, -2.0, 2.0)
    assert not ledger.acked(2, -1.0, 2.5)  # the coalesced, superseded write
    assert (ledger.acked_seq, ledger.acked_setpoint, ledger.pending_since) == (3, -2.0, None)


def run(health: DeviceHealth, rounds: str, every: float = 0.1) -> list[tuple[float, str]]:
    """Feed rounds ('+' fresh, '-' stale); return (time, event) of each event."""
    events = []
    for n, mark in enumerate(rounds):
        event = health.observe(mark == "+", n * every)
        if event is not None:
            events.append((round(n * every, 3), event))
    return events


@pytest.mark.parametrize(
    ("rounds", "events"),
    [
        ("++++", []),
        ("+-++++++", [(0.1, "failing"), (0.7, "recovered")]),  # recovery_s = 0.5
        ("+------+++++++", [(0.1, "failing"), (0.4, "release"), (1.2, "resume")]),
        # one good read in five never ends the episode: the hold time still runs out
        ("-+----+----+----", [(0.0, "failing"), (0.3, "release")]),
        ("--+-++++++", [(0.0, "failing"), (0.3, "release"), (0.9, "resume")]),
    ],
    ids=["healthy", "blip", "outage", "flapping", "flap-then-steady"],
)
def test_health(rounds: str, events: list[tuple[float, str]]) -> None:
    health = DeviceHealth(hold_s=0.3, recovery_s=0.5)
    assert run(health, rounds) == events


def test_health_states() -> None:
    health = DeviceHealth(hold_s=1.0, recovery_s=1.0)
    assert (health.state, health.trusted) == ("healthy", True)
    health.observe(False, 0.0)
    assert (health.state, health.trusted) == ("failing", False)
    health.observe(True, 0.5)
    assert health.state == "recovering"
    health.observe(False, 1.0)
    assert (health.state, health.released, health.releases) == ("released", True, 1)
