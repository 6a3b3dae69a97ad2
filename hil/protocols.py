"""The simulation server's two wire formats, encoded and decoded without I/O (HIL.md §2, §3).

*rtds* (a controller's port, FREEDM's RTDS adapter / GTNET-SKT style): packets of IEEE-754
float32, **big-endian**, one per table entry in index order; no header, length or checksum —
the sizes are implied by the tables. The controller sends its command packet, the server
replies with its state packet.

*simulation* (PSCAD's port, one request per TCP connection): a 5-byte header, the ASCII verb
NUL-padded (``SET``, ``RST``, ``GET``), then a payload of **little-endian float64**:
``SET``/``RST`` carry one double per state, ``GET`` carries nothing and is answered with one
double per command. :func:`parse_request` judges a request from the bytes received so far.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

HEADER_SIZE = 5
Verb = Literal["SET", "RST", "GET"]
VERBS: tuple[Verb, ...] = ("SET", "RST", "GET")


class ProtocolError(ValueError):
    """A request that breaks the protocol (bad verb, wrong payload size)."""


def to_float32(value: float) -> float:
    """``value`` as a float32 holds it: a double too large becomes an infinity, as in C
    (``struct`` would refuse it, and one SET from PSCAD would break every rtds reply)."""
    try:
        struct.pack(">f", value)
    except OverflowError:
        return math.copysign(math.inf, value)
    return value


def encode_float32_be(values: Sequence[float]) -> bytes:
    return struct.pack(f">{len(values)}f", *(to_float32(v) for v in values))


def decode_float32_be(data: bytes) -> list[float]:
    if len(data) % 4:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of float32")
    return list(struct.unpack(f">{len(data) // 4}f", data))


def encode_float64_le(values: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(values)}d", *values)


def decode_float64_le(data: bytes) -> list[float]:
    if len(data) % 8:
        raise ProtocolError(f"{len(data)} bytes is not a whole number of float64")
    return list(struct.unpack(f"<{len(data) // 8}d", data))


def encode_header(verb: str) -> bytes:
    """``"SET"`` → ``b"SET\\0\\0"``."""
    raw = verb.encode("ascii")
    if len(raw) > HEADER_SIZE:
        raise ValueError(f"verb {verb!r} is longer than {HEADER_SIZE} bytes")
    return raw.ljust(HEADER_SIZE, b"\0")


def parse_verb(header: bytes) -> Verb:
    """The verb of a 5-byte header; :class:`ProtocolError` for anything else."""
    text = header.rstrip(b"\0")
    for verb in VERBS:
        if text == verb.encode("ascii"):
            return verb
    raise ProtocolError(f"unknown verb {header!r} (expected SET, RST or GET, NUL-padded)")


@dataclass(frozen=True)
class Request:
    """A complete simulation-port request."""

    verb: Verb
    values: tuple[float, ...]  # the states of SET/RST; empty for GET


def payload_size(verb: Verb, n_states: int) -> int:
    return 8 * n_states if verb in ("SET", "RST") else 0


def parse_request(data: bytes, n_states: int, *, complete: bool) -> Request | None:
    """The request in ``data`` (all bytes received on the connection so far); ``None`` while
    more bytes are needed. ``complete`` means no more will come (peer closed, or timed out):
    a short request is then a :class:`ProtocolError`; so is one longer than its verb allows."""
    if len(data) < HEADER_SIZE:
        if complete:
            raise ProtocolError(f"short header: {len(data)} of {HEADER_SIZE} bytes")
        return None
    verb = parse_verb(data[:HEADER_SIZE])
    expected = HEADER_SIZE + payload_size(verb, n_states)
    if len(data) > expected:
        raise ProtocolError(
            f"{verb} payload of {len(data) - HEADER_SIZE} bytes; expected {expected - HEADER_SIZE}"
        )
    if len(data) < expected:
        if complete:
            raise ProtocolError(
                f"short {verb} payload: {len(data) - HEADER_SIZE} of "
                f"{expected - HEADER_SIZE} bytes ({n_states} float64)"
            )
        return None
    return Request(verb, tuple(decode_float64_le(data[HEADER_SIZE:])))
