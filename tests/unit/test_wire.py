"""The wire stage: every bad datagram is dropped, changes nothing, and is counted by reason."""

from __future__ import annotations

import math
import os
import random
import stat
from pathlib import Path

import pytest

from controller.core.group import Group
from controller.core.messages import Limits
from controller.core.node_core import NodeCore
from controller.lb.core import LoadBalancer
from controller.lb.messages import DraftAge, DraftSelect, StateChange
from controller.lb.settings import LbSettings
from controller.peer.envelope import Envelope, seal
from controller.peer.keys import KeyFileError, Keyring, load_keyring, write_key_file
from controller.peer.wire import DROP_REASONS, Dropped, Inbound, Wire
from controller.sc.messages import CollectedState, State

COLLECTED = CollectedState(
    7, "g", 1.0, ("a", "b"), ("normal", "demand"), (1, 0), (1.0, 0.0), (2.0, 1.0), (3.0, 1.0),
    (0.0, 0.0), (),
)  # fmt: skip
KEYS = Keyring("k1", {"k1": bytes(range(32))})
NOW = 1_700_000_000.0
MEMBERS = ["a", "b", "c"]


def wire(node: str, keys: Keyring = KEYS, epoch: int = 1) -> Wire:
    return Wire(node, MEMBERS, keys, epoch=epoch, limits=Limits(1000.0), ttl_ms=1000)


def datagram(**changes: object) -> bytes:
    """A datagram from a to b, with envelope fields changed as asked."""
    fields: dict[str, object] = {
        "src": "a", "dst": "b", "group": "site", "type": "DraftAge", "epoch": 1, "seq": 1,
        "send_time_ms": int(NOW * 1000), "ttl_ms": 1000, "body": [1, 2.5],
    }  # fmt: skip
    key_id = str(changes.pop("key_id", "k1"))
    key = changes.pop("key", KEYS.keys["k1"])
    fields.update(changes)
    return seal(Envelope(**fields), key_id, key)  # type: ignore[arg-type]


def test_round_trip() -> None:
    sender, receiver = wire("a"), wire("b")
    got = receiver.open(sender.seal("b", DraftAge(7, 3.25), NOW), NOW + 0.002)
    assert got == Inbound("a", DraftAge(7, 3.25), 1, pytest.approx(2.0))
    assert receiver.stats.by_type[("DraftAge", "accepted")] == 1


def test_broadcast_reaches_every_member() -> None:
    data = wire("a").seal("*", StateChange("demand"), NOW)
    assert isinstance(wire("b").open(data, NOW), Inbound)
    assert isinstance(wire("c").open(data, NOW), Inbound)


BAD = [
    ("forged-with-another-key", lambda: datagram(key=bytes(32)), "bad_mac"),
    ("unknown-key-id", lambda: datagram(key_id="k9"), "unknown_key"),
    ("expired", lambda: datagram(send_time_ms=int(NOW * 1000) - 5000), "expired"),
    ("from-the-future", lambda: datagram(send_time_ms=int(NOW * 1000) + 5000), "expired"),
    ("truncated", lambda: datagram()[:-5], "bad_mac"),
    ("truncated-header", lambda: datagram()[:10], "malformed"),
    ("random-bytes", lambda: random.Random(1).randbytes(80), "malformed"),
    ("empty", lambda: b"", "malformed"),
    ("not-a-member", lambda: datagram(src="mallory"), "not_member"),
    ("other-group", lambda: datagram(group="other-site"), "not_member"),
    ("for-someone-else", lambda: datagram(dst="c"), "misdirected"),
    ("unknown-type", lambda: datagram(type="Reboot", body=[]), "malformed"),
    ("wrong-field-count", lambda: datagram(body=[1]), "malformed"),
    ("wrong-field-type", lambda: datagram(body=["x", 1.0]), "malformed"),
    ("nan-age", lambda: datagram(body=[1, math.nan]), "invalid"),
    ("negative-age", lambda: datagram(body=[1, -4.0]), "invalid"),
    ("huge-age", lambda: datagram(body=[1, 1e9]), "invalid"),
    ("zero-draft", lambda: datagram(type="DraftSelect", body=[5, 0.0]), "invalid"),
    ("unknown-state", lambda: datagram(type="StateChange", body=["panic"]), "invalid"),
    ("infinite-state", lambda: datagram(type="State", body=[1, "g", "normal", 1, math.inf, 0.0, 0.0, 0.0, 0, []]), "invalid"),
    ("infinite-in-a-column", lambda: datagram(type="CollectedState", body=[1, "g", 1.0, ["a"], ["normal"], [1], [math.inf], [0.0], [0.0], [0.0], [], [], [], [], []]), "invalid"),
    ("ragged-collected-state", lambda: datagram(type="CollectedState", body=[1, "g", 1.0, ["a", "b"], ["normal"], [1], [0.0], [0.0], [0.0], [0.0], [], [], [], [], []]), "invalid"),
    ("column-of-the-wrong-kind", lambda: datagram(type="CollectedState", body=[1, "g", 1.0, ["a"], [3], [1], [0.0], [0.0], [0.0], [0.0], [], [], [], [], []]), "malformed"),
    ("column-not-a-list", lambda: datagram(type="CollectedState", body=[1, "g", 1.0, "a", ["normal"], [1], [0.0], [0.0], [0.0], [0.0], [], [], [], [], []]), "malformed"),
    ("epoch-from-the-future", lambda: datagram(epoch=2**62), "bad_epoch"),
    ("epoch-just-ahead", lambda: datagram(epoch=int(NOW * 1000) + 5000), "bad_epoch"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "reason"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_datagrams_are_dropped_and_counted(make: object, reason: str) -> None:
    receiver = wire("b")
    result = receiver.open(make(), NOW)  # type: ignore[operator]
    assert isinstance(result, Dropped)
    assert result.reason == reason
    assert receiver.stats.dropped(reason) == 1
    assert receiver.stats.accepted() == 0


def test_replayed_datagram_is_dropped() -> None:
    receiver = wire("b")
    data = datagram()
    assert isinstance(receiver.open(data, NOW), Inbound)
    assert receiver.open(data, NOW) == Dropped("replay", "a", "replay: epoch 1 seq 1 already seen")


def test_reordering_within_the_window_is_fine_but_old_numbers_are_replays() -> None:
    receiver = wire("b")
    for seq in (5, 3, 4, 1, 2):
        assert isinstance(receiver.open(datagram(seq=seq), NOW), Inbound), seq
    assert isinstance(receiver.open(datagram(seq=200), NOW), Inbound)
    assert receiver.open(datagram(seq=100), NOW).reason == "replay"  # type: ignore[union-attr]


def at(when: float, **changes: object) -> bytes:
    return datagram(send_time_ms=int(when * 1000), **changes)


def test_each_epoch_has_its_own_window() -> None:
    """A restart (a new epoch after the old one fell silent) starts a new window; the old
    epoch's datagrams are still replays when seen again."""
    receiver = wire("b")
    first = at(NOW, epoch=1, seq=50)
    assert isinstance(receiver.open(first, NOW), Inbound)
    later = NOW + 2.0
    assert isinstance(receiver.open(at(later, epoch=2, seq=1), later), Inbound)
    assert receiver.open(first, later).reason == "expired"  # type: ignore[union-attr]
    assert receiver.open(at(later, epoch=2, seq=1), later).reason == "replay"  # type: ignore[union-attr]
    assert receiver.twins(later) == {}


def test_no_datagram_can_lock_the_real_sender_out() -> None:
    """A key holder's StateChange with epoch 2**62 is refused; single datagrams under other epochs
    are just that; only a forger who keeps sending under another epoch quarantines the id —
    while it does so, and the real node is back quiet_s after it stops."""
    receiver = wire("b")
    real = int(NOW * 1000) - 60_000  # booted a minute ago
    assert isinstance(receiver.open(at(NOW, epoch=real, seq=1), NOW), Inbound)
    forged = at(NOW, epoch=2**62, seq=2**40, type="StateChange", body=["normal"])
    assert receiver.open(forged, NOW).reason == "bad_epoch"  # type: ignore[union-attr]
    for epoch in range(real + 1, real + 10):  # one datagram under each of many epochs
        receiver.open(at(NOW, epoch=epoch, seq=10**6), NOW)
    for step in range(1, 20):  # the real node goes on, accepted
        now = NOW + step * 0.1
        assert isinstance(receiver.open(at(now, epoch=real, seq=1 + step), now), Inbound)
    start = NOW + 2.0  # a forger sends under another epoch for a second
    results = []
    for step in range(10):
        now = start + step * 0.1
        receiver.open(at(now, epoch=real + 77, seq=step + 1), now)
        results.append(receiver.open(at(now, epoch=real, seq=100 + step), now))
    assert getattr(results[-1], "reason", None) == "duplicate_id"
    after = start + 1.0 + receiver.twin_quiet_s + 0.1  # the forgeries stopped
    assert isinstance(receiver.open(at(after, epoch=real, seq=200), after), Inbound)
    assert receiver.twins(after) == {}
    assert receiver.stats.by_peer[("a", "replay")] == 0


def test_two_processes_under_one_id_are_quarantined_until_one_stops() -> None:
    receiver = wire("b")
    real, twin = 1_000, 2_000
    for step in range(30):  # the real node sends every 0.1 s
        now = NOW + step * 0.1
        assert isinstance(receiver.open(at(now, epoch=real, seq=step + 1), now), Inbound)
    start = NOW + 3.0  # the twin starts: both send
    for step in range(40):
        now = start + step * 0.1
        twin_result = receiver.open(at(now, epoch=twin, seq=step + 1), now)
        real_result = receiver.open(at(now, epoch=real, seq=100 + step), now)
        if step >= 3:  # more than the grace of a datagram in flight: two processes
            assert getattr(twin_result, "reason", None) == "duplicate_id"
            assert getattr(real_result, "reason", None) == "duplicate_id"
    assert receiver.twins(start + 4) == {"a": (real, twin)}
    notice = at(start + 4, epoch=twin, seq=99, type="DuplicateId", body=[real, twin])
    assert isinstance(receiver.open(notice, start + 4), Inbound)  # a notice always passes
    stopped = start + 4.0  # the twin stops; the real node goes on
    for step in range(80):
        now = stopped + step * 0.1
        result = receiver.open(at(now, epoch=real, seq=200 + step), now)
        quarantined = now - stopped <= receiver.twin_quiet_s
        assert (getattr(result, "reason", None) == "duplicate_id") is quarantined, now - stopped
    assert receiver.twins(stopped + 8) == {}


def test_keys_rotate_old_key_still_accepted() -> None:
    old = Keyring("k1", {"k1": bytes(range(32))})
    new = Keyring("k2", {"k2": bytes(32 * [7]), "k1": bytes(range(32))})
    assert isinstance(
        wire("b", new).open(wire("a", old).seal("b", StateChange("demand"), NOW), NOW), Inbound
    )
    assert (
        wire("b", old).open(wire("a", new).seal("b", StateChange("demand"), NOW), NOW).reason
        == "unknown_key"
    )  # type: ignore[union-attr]


def core(node: str) -> NodeCore:
    node_core = NodeCore(LoadBalancer(node, LbSettings()), wire(node), Group.static(MEMBERS))
    node_core.phase_started("lb", NOW)
    return node_core


def snapshot(node_core: NodeCore) -> tuple[object, ...]:
    lb = node_core.lb
    return (
        lb.state,
        lb.predicted,
        lb.k,
        dict(lb.sets),
        lb.collected,
        dict(lb.demand_tx),
        dict(lb.supply_tx),
    )


def test_bad_datagrams_change_nothing_in_the_node() -> None:
    receiver = core("b")
    before = snapshot(receiver)
    for _, make, _ in BAD:
        effects = receiver.datagram(make(), NOW)  # type: ignore[operator]
        assert all(e.kind == "drop" for e in effects)  # type: ignore[union-attr]
    assert snapshot(receiver) == before
    assert sum(receiver.wire.stats.dropped(r) for r in DROP_REASONS) == len(BAD)


def test_each_drop_is_logged_once_per_sender_and_reason() -> None:
    receiver = core("b")
    levels = [receiver.datagram(datagram(key=bytes(32), seq=n), NOW)[0].level for n in range(3)]  # type: ignore[union-attr]
    assert levels == ["warning", "debug", "debug"]


def test_fuzz_ten_thousand_random_and_mutated_datagrams() -> None:
    """Nothing escapes as an exception; nothing forged is accepted; every drop is counted."""
    rng = random.Random(20261121)
    receiver = core("b")
    sender = wire("a")
    valid = [
        sender.seal("b", m, NOW)
        for m in (
            DraftAge(1, 2.0),
            DraftSelect(9, 1.5),
            StateChange("demand"),
            State(7, "g", "normal", 1, 1.0, 2.0, 3.0, 0.0, 0),
            COLLECTED,
        )
    ]
    before = snapshot(receiver)
    total = 10_000
    for n in range(total):
        kind = n % 4
        if kind == 0:
            data = rng.randbytes(rng.randrange(0, 200))
        elif kind == 1:  # flip bytes of a valid datagram
            data = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
            data = bytes(data)
        elif kind == 2:  # cut or extend
            base = rng.choice(valid)
            data = (
                base[: rng.randrange(len(base))]
                if rng.random() < 0.5
                else base + rng.randbytes(rng.randrange(1, 9))
            )
        else:  # a valid header and MAC prefix with garbage after it
            base = rng.choice(valid)
            data = base[:6] + rng.randbytes(rng.randrange(0, 120))
        if data in valid:  # flips that cancel out give back a genuine datagram
            data = data[:-1]
        effects = receiver.datagram(data, NOW)
        assert all(getattr(e, "kind", None) == "drop" for e in effects), data
    assert snapshot(receiver) == before
    assert receiver.wire.stats.accepted() == 0
    assert sum(receiver.wire.stats.dropped(r) for r in DROP_REASONS) == total


# -- the key file ---------------------------------------------------------------------------------


def test_key_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "group.key"
    made = write_key_file(path, "site-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_keyring(path) == made


@pytest.mark.parametrize(
    ("content", "mode", "message"),
    [
        ('signing = "k"\n[keys]\nk = "' + "ab" * 32 + '"\n', 0o644, "readable by others (mode -rw-r--r--); the file must be owner-only: chmod 600"),
        ('signing = "k"\n[keys]\nk = "' + "ab" * 32 + '"\n', 0o640, "readable by others"),
        ('signing = "k"\n[keys]\nk = "abcd"\n', 0o600, "keys.k: 2 bytes; at least 32 needed"),
        ('signing = "k"\n[keys]\nk = "zz"\n', 0o600, "keys.k: not hexadecimal"),
        ('signing = "x"\n[keys]\nk = "' + "ab" * 32 + '"\n', 0o600, "signing = 'x' must name one of the [keys]"),
        ("signing = \n", 0o600, "malformed key file"),
        ('signing = "k"\n', 0o600, "needs a [keys] table"),
    ],
)  # fmt: skip
def test_bad_key_files_are_refused(tmp_path: Path, content: str, mode: int, message: str) -> None:
    path = tmp_path / "group.key"
    path.write_text(content)
    os.chmod(path, mode)
    with pytest.raises(
        KeyFileError,
        match=rf"group\.key: .*{message.replace('(', '.').replace(')', '.').replace('[', '.').replace(']', '.')}",
    ):
        load_keyring(path)


def test_missing_key_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(
        KeyFileError, match=r"key file not found \(create one with: \S*dgi keygen .*nope\.key\)"
    ):
        load_keyring(tmp_path / "nope.key")
