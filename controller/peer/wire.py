"""The wire stage of a node: messages ↔ authenticated datagrams. Pure: time is passed in.

Outgoing messages get the sender's boot epoch (its start time in ms) and the next sequence
number. Incoming datagrams pass, in order: format and key id, MAC, header, destination, group
membership, time-to-live, boot epoch (one from the future beyond the allowed clock skew is
refused, never adopted), replay window, one process per node id, message shape, message
values. A datagram that fails a check is dropped and counted under its reason.

The plain channel of virtual time (:mod:`controller.peer.posted`) skips the MAC and the
decoding: :meth:`Wire.post` gives a message the envelope a datagram would carry and
:meth:`Wire.take` runs the size and header checks on it (destination to one process per
node id), so a fault of the network is refused and counted as it is on the wire.

One process per node id: when a sender is heard under two boot epochs at once, two
processes share its id (a misconfigured twin). Neither can be told from the other, so both
are *quarantined* — their datagrams dropped as ``duplicate_id`` (a ``DuplicateId`` notice
excepted) and nothing sent to them but that notice — until one of them has been silent for
``twin_quiet_s``. No migration can then be half done with the wrong one, and the real node
is back by itself once the twin stops.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from controller.catalogue import MESSAGES
from controller.core.effects import BROADCAST
from controller.core.messages import (
    Catalogue,
    InvalidMessage,
    Limits,
    MalformedMessage,
    Message,
    to_body,
    validate,
)
from controller.peer.envelope import (
    DropReason,
    Envelope,
    check_size,
    open_datagram,
    seal,
    sealed_size,
)
from controller.peer.keys import Keyring
from controller.peer.posted import Posted
from controller.peer.replay import ReplayGuard

DROP_REASONS = (
    "bad_mac",
    "unknown_key",
    "replay",
    "expired",
    "bad_epoch",
    "duplicate_id",
    "malformed",
    "not_member",
    "invalid",
    "misdirected",
)


@dataclass(frozen=True)
class Inbound:
    """An accepted message."""

    sender: str
    message: Message
    epoch: int
    age_ms: float = 0.0  # on arrival: network delay plus the difference of the two clocks


@dataclass(frozen=True)
class Dropped:
    """A refused datagram: the reason (a counter label), who claimed to send it, and why."""

    reason: str
    sender: str | None
    detail: str


@dataclass
class WireStats:
    """Counts by (type, result) and (peer, result); a result is "accepted" or a drop reason."""

    by_type: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_peer: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: Counter[str] = field(default_factory=Counter)

    def dropped(self, reason: str) -> int:
        return sum(n for (_, result), n in self.by_type.items() if result == reason)

    def accepted(self) -> int:
        return sum(n for (_, result), n in self.by_type.items() if result == "accepted")


class Wire:
    """Seal outgoing and open incoming datagrams for one node."""

    def __init__(
        self,
        node_id: str,
        members: Iterable[str],
        keyring: Keyring,
        *,
        epoch: int,
        limits: Limits,
        group: str = "site",
        ttl_ms: int = 1000,
        max_skew_ms: int = 1000,
        twin_grace_s: float = 0.1,
        twin_quiet_s: float = 5.0,
        catalogue: Catalogue = MESSAGES,
    ) -> None:
        self.node_id = node_id
        self.members = frozenset(members) - {node_id}
        self.keyring = keyring
        self.epoch = epoch
        self.limits = limits
        self.group = group
        self.ttl_ms = ttl_ms
        self.max_skew_ms = max_skew_ms
        self.twin_grace_s = twin_grace_s
        self.twin_quiet_s = twin_quiet_s
        self.catalogue = catalogue
        self.quarantined: dict[str, tuple[int, int]] = {}  # sender -> its two boot epochs
        self.seq = 0
        self.replay = ReplayGuard()
        self.stats = WireStats()
        # the message posted last, its body and rebuilt message (messages are frozen)
        self._last_posted: tuple[Message, list[Any], Message] | None = None

    def seal(self, to: str, message: Message, now: float) -> bytes:
        """One datagram for ``to`` (a node id, or ``"*"``)."""
        envelope = self._envelope(to, message, to_body(message), now)
        return seal(envelope, self.keyring.signing_id, self.keyring.signing_key)

    def open(self, data: bytes, now: float) -> Inbound | Dropped:
        """Check one datagram; count the outcome."""
        envelope: Envelope | None = None
        try:
            envelope = open_datagram(data, self.keyring.keys)
            self._check_envelope(envelope, now)
            message = self.catalogue.from_body(envelope.type, envelope.body)
            validate(message, self.limits)
        except DropReason as exc:
            return self._drop(exc.reason, envelope, str(exc))
        except MalformedMessage as exc:
            return self._drop("malformed", envelope, str(exc))
        except InvalidMessage as exc:
            return self._drop("invalid", envelope, str(exc))
        self.stats.by_type[(envelope.type, "accepted")] += 1
        self.stats.by_peer[(envelope.src, "accepted")] += 1
        return Inbound(envelope.src, message, envelope.epoch, now * 1000 - envelope.send_time_ms)

    def post(self, to: str, message: Message, now: float) -> Posted:
        """``message`` for ``to`` on the plain channel: the envelope :meth:`seal` would give
        it (the next sequence number, counted as sent), unsealed, with its sealed length; the
        message rebuilt from its body once, as every receiver would (an integer in a float
        field becomes a float: a state's ``in_transit`` of ``sum([])``), and shared."""
        last = self._last_posted
        if last is not None and last[0] is message:  # one message sent to each member
            _, body, rebuilt = last
        else:
            body = to_body(message)
            rebuilt = self.catalogue.from_body(type(message).__name__, body)
            self._last_posted = (message, body, rebuilt)
        envelope = self._envelope(to, message, body, now)
        return Posted(envelope, rebuilt, sealed_size(envelope, self.keyring.signing_id))

    def _envelope(self, to: str, message: Message, body: list[object], now: float) -> Envelope:
        """The next envelope from this node (a new sequence number, counted as sent)."""
        self.seq += 1
        envelope = Envelope(
            src=self.node_id,
            dst=to,
            group=self.group,
            type=type(message).__name__,
            epoch=self.epoch,
            seq=self.seq,
            send_time_ms=int(now * 1000),
            ttl_ms=self.ttl_ms,
            body=body,
        )
        self.stats.sent[envelope.type] += 1
        return envelope

    def take(self, posted: Posted, now: float) -> Inbound | Dropped:
        """Check a posted message's envelope as :meth:`open` checks a datagram's (no MAC, no
        decoding, no value checks: it never left this process); count the outcome."""
        envelope = posted.envelope
        try:
            check_size(posted.size)
        except DropReason as exc:  # refused before its header is read, as a datagram is
            return self._drop(exc.reason, None, str(exc))
        try:
            self._check_envelope(envelope, now)
        except DropReason as exc:
            return self._drop(exc.reason, envelope, str(exc))
        self.stats.by_type[(envelope.type, "accepted")] += 1
        self.stats.by_peer[(envelope.src, "accepted")] += 1
        return Inbound(envelope.src, posted.message, envelope.epoch,
                       now * 1000 - envelope.send_time_ms)  # fmt: skip

    def _check_envelope(self, envelope: Envelope, now: float) -> None:
        if envelope.dst not in (self.node_id, BROADCAST):
            raise DropReason("misdirected", f"for {envelope.dst!r}, not {self.node_id!r}")
        if envelope.src not in self.members or envelope.group != self.group:
            raise DropReason("not_member", f"{envelope.src!r} (group {envelope.group!r})")
        age_ms = now * 1000 - envelope.send_time_ms
        if age_ms > envelope.ttl_ms or -age_ms > self.max_skew_ms:
            raise DropReason("expired", f"sent {age_ms:.0f} ms ago, ttl {envelope.ttl_ms} ms")
        ahead_ms = envelope.epoch - now * 1000
        if ahead_ms > self.max_skew_ms:
            raise DropReason(
                "bad_epoch",
                f"boot epoch {envelope.epoch} is {ahead_ms / 1000:.0f} s in the future "
                f"(allowed clock skew {self.max_skew_ms} ms)",
            )
        if not self.replay.check_and_record(envelope.src, envelope.epoch, envelope.seq, now):
            raise DropReason("replay", f"epoch {envelope.epoch} seq {envelope.seq} already seen")
        pair = self._twins(envelope.src, now)
        if pair is not None and envelope.type != "DuplicateId":
            raise DropReason(
                "duplicate_id", f"{envelope.src} is heard from two processes (epochs {pair})"
            )

    def _twins(self, sender: str, now: float) -> tuple[int, int] | None:
        pair = self.replay.twins(sender, now, grace_s=self.twin_grace_s, quiet_s=self.twin_quiet_s)
        if pair is None:
            self.quarantined.pop(sender, None)
        else:
            self.quarantined[sender] = pair
        return pair

    def twins(self, now: float) -> dict[str, tuple[int, int]]:
        """Senders quarantined now: heard under two boot epochs at once."""
        for sender in list(self.quarantined):
            self._twins(sender, now)
        return dict(self.quarantined)

    def _drop(self, reason: str, envelope: Envelope | None, detail: str) -> Dropped:
        # Labels stay bounded: a type or sender name is only used when it is a known one.
        known_type = envelope is not None and envelope.type in self.catalogue
        type_name = envelope.type if known_type and envelope is not None else "unknown"
        sender = envelope.src if envelope is not None else None
        self.stats.by_type[(type_name, reason)] += 1
        if sender in self.members:
            self.stats.by_peer[(sender, reason)] += 1
        return Dropped(reason, sender, detail)
