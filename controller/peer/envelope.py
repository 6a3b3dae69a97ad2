"""The datagram format (docs/algorithm.md, "The wire") — the only module that uses msgpack.

::

    b"DG" | version (1 byte) | key id length (1 byte) | key id | msgpack part | MAC (16 bytes)

The MAC is HMAC-SHA256 over everything before it, truncated to 16 bytes, with the group key
named by the key id. It is checked before the msgpack part is parsed, so unauthenticated bytes
are never decoded. The msgpack part is an array: ``[src, dst, group, type, epoch, seq,
send_time_ms, ttl_ms, body]``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

MAGIC = b"DG"
VERSION = 1
TAG_BYTES = 16
MAX_DATAGRAM = 8192


class DropReason(Exception):
    """Why a datagram was refused; ``reason`` is the counter label."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class Envelope:
    src: str
    dst: str
    group: str
    type: str
    epoch: int
    seq: int
    send_time_ms: int
    ttl_ms: int
    body: list[Any]


def seal(envelope: Envelope, key_id: str, key: bytes) -> bytes:
    """Encode and authenticate one datagram."""
    signed = _signed(envelope, key_id)
    return signed + hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES]


def sealed_size(envelope: Envelope, key_id: str) -> int:
    """The length of the datagram :func:`seal` makes of ``envelope`` (without the MAC's work:
    what virtual time's plain channel needs to refuse what would not fit)."""
    return len(_signed(envelope, key_id)) + TAG_BYTES


def _signed(envelope: Envelope, key_id: str) -> bytes:
    """Everything of the datagram the MAC covers."""
    kid = key_id.encode()
    payload: bytes = msgpack.packb(
        [
            envelope.src,
            envelope.dst,
            envelope.group,
            envelope.type,
            envelope.epoch,
            envelope.seq,
            envelope.send_time_ms,
            envelope.ttl_ms,
            envelope.body,
        ],
        use_bin_type=True,
    )
    return MAGIC + bytes([VERSION, len(kid)]) + kid + payload


def open_datagram(data: bytes, keys: Mapping[str, bytes]) -> Envelope:
    """Authenticate and decode a datagram; raise :class:`DropReason` when it is not acceptable."""
    check_size(len(data))
    if len(data) < 4 + TAG_BYTES or data[:2] != MAGIC:
        raise DropReason("malformed", "not a DGI datagram")
    if data[2] != VERSION:
        raise DropReason("malformed", f"version {data[2]} (expected {VERSION})")
    end = 4 + data[3]
    if end > len(data) - TAG_BYTES:
        raise DropReason("malformed", "truncated")
    kid = data[4:end].decode("utf-8", "replace")
    key = keys.get(kid)
    if key is None:
        raise DropReason("unknown_key", f"key id {kid!r}")
    signed, tag = data[:-TAG_BYTES], data[-TAG_BYTES:]
    if not hmac.compare_digest(hmac.new(key, signed, hashlib.sha256).digest()[:TAG_BYTES], tag):
        raise DropReason("bad_mac", f"MAC does not match key {kid!r}")
    try:
        fields = msgpack.unpackb(data[end:-TAG_BYTES], raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException, TypeError) as exc:
        raise DropReason("malformed", f"msgpack: {exc}") from None
    return _envelope(fields)


def check_size(size: int) -> None:
    """Refuse a datagram of ``size`` bytes that is larger than a receiver takes."""
    if size > MAX_DATAGRAM:
        raise DropReason("malformed", f"{size} bytes is larger than {MAX_DATAGRAM}")


def _envelope(fields: object) -> Envelope:
    if not isinstance(fields, list) or len(fields) != 9:
        raise DropReason("malformed", "header is not a 9-field array")
    src, dst, group, type_, epoch, seq, sent, ttl, body = fields
    texts = (src, dst, group, type_)
    numbers = (epoch, seq, sent, ttl)
    if not all(isinstance(t, str) for t in texts):
        raise DropReason("malformed", "src, dst, group and type must be strings")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in numbers):
        raise DropReason("malformed", "epoch, seq, send time and ttl must be unsigned integers")
    if not isinstance(body, list):
        raise DropReason("malformed", "body must be an array")
    return Envelope(src, dst, group, type_, epoch, seq, sent, ttl, body)
