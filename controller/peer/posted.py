"""The plain channel's unit: a message with the header a datagram carries, not sealed.

A virtual-time run (:mod:`controller.virtual.group`) spends most of its time sealing and
opening datagrams (HMAC, msgpack, rebuilding and validating each message) that nobody could
have tampered with. On the plain channel a node posts the message itself, under the same
header a sealed datagram has — source, destination, group, type, boot epoch, sequence
number, send time, time-to-live — and the receiving wire runs the same header checks on it
(destination, membership, time-to-live, boot epoch, replay window, one process per node id;
:meth:`controller.peer.wire.Wire.take`). So duplicates, late and replayed deliveries and
twins are refused exactly as on the wire, with the same counts; only authentication,
encoding and the receiver's value checks are skipped. A broadcast is one ``Posted`` handed
to every peer, as it is one datagram.

Sharing it is safe: a ``Posted`` is frozen, and so is every message (frozen dataclasses of
``int``, ``float``, ``str`` and tuples of them, :class:`controller.core.messages.Message`),
so a receiver never holds state the sender can change.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.messages import Message
from controller.peer.envelope import Envelope


@dataclass(frozen=True, slots=True)
class Posted:
    """One message on the plain channel: the envelope a datagram of it would carry, with no
    body (the message stands for it), and the message (see the module)."""

    envelope: Envelope
    message: Message
