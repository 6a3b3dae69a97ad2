"""The plain channel's unit: a message with the envelope a datagram carries, not sealed.

A virtual-time run (:mod:`controller.virtual.group`) spends most of its time sealing and
opening datagrams (HMAC, msgpack, rebuilding and validating each message) that nobody could
have tampered with. On the plain channel a node posts the message itself, under the
envelope a sealed datagram has — source, destination, group, type, boot epoch, sequence
number, send time, time-to-live — and the receiving wire runs the same checks on it (size,
destination, membership, time-to-live, boot epoch, replay window, one process per node id;
:meth:`controller.peer.wire.Wire.take`). So duplicates, late and replayed deliveries, twins
and a message whose datagram would be larger than a receiver takes (its length is computed,
without the MAC) are refused exactly as on the wire, with the same counts.

What is skipped: the MAC, the decoding at every receiver and the receivers' value checks.
The message is rebuilt from its body once, when posted, so a receiver holds what it would
have decoded, to the type (an integer in a float field is a float again). A broadcast is
one ``Posted`` handed to every peer, as it is one datagram.

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
    """One message on the plain channel: the envelope a datagram of it would carry, the
    message itself, and the length that datagram would have (see the module)."""

    envelope: Envelope
    message: Message
    size: int
