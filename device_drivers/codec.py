"""Values ↔ Modbus registers: types, word orders, scale and offset.

Multi-register values are laid out from their big-endian bytes ``A B C D (E F G H)``:

=========  =======================================  =====================
order      registers of a 32-bit value               64-bit
=========  =======================================  =====================
ABCD       ``AB CD`` (big-endian words)              ``AB CD EF GH``
CDAB       ``CD AB`` (low word first)                ``GH EF CD AB``
BADC       ``BA DC`` (bytes swapped in each word)    ``BA DC FE HG``
DCBA       ``DC BA`` (fully little-endian)           ``HG FE DC BA``
=========  =======================================  =====================

Engineering value = raw × scale × 10^exponent + offset, the exponent being 0 except for a
point with a ``scale_factor`` (SunSpec): the caller reads that other register and passes it.
A float that is exactly 1e8 (FREEDM's ``NULL_COMMAND``) reads as ``None`` — "no value"; NaN
and ±inf are refused (a device that reports them is faulty, and a NaN summed as 0 kW would be
a lie).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence

from config.profile import REGISTER_COUNT, Point

#: FREEDM's "no value" sentinel, in both directions.
NO_VALUE = 1e8

_FORMATS = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "float32": "f",
    "float64": "d",
}
_INT_RANGES = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}
_FLOAT32_MAX = 3.4028234663852886e38


class CodecError(ValueError):
    """A value cannot be represented in its point's Modbus type."""


def _to_words(data: bytes, word_order: str) -> list[int]:
    words = [data[i : i + 2] for i in range(0, len(data), 2)]
    if word_order in ("CDAB", "DCBA"):
        words.reverse()
    if word_order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    return [int.from_bytes(w, "big") for w in words]


def _from_words(registers: Sequence[int], word_order: str) -> bytes:
    words = [int(r).to_bytes(2, "big") for r in registers]
    if word_order in ("BADC", "DCBA"):
        words = [w[::-1] for w in words]
    if word_order in ("CDAB", "DCBA"):
        words.reverse()
    return b"".join(words)


def encode_raw(raw: float, value_type: str, word_order: str = "ABCD") -> list[int]:
    """Pack a raw (unscaled) number into registers."""
    if value_type == "bool":
        return [1 if raw else 0]
    if value_type in _INT_RANGES:
        low, high = _INT_RANGES[value_type]
        number = round(raw)
        if not low <= number <= high:
            raise CodecError(f"{raw!r} does not fit {value_type} ({low}..{high})")
        data = struct.pack(">" + _FORMATS[value_type], number)
    else:
        if value_type == "float32" and math.isfinite(raw) and abs(raw) > _FLOAT32_MAX:
            raise CodecError(f"{raw!r} does not fit float32")
        data = struct.pack(">" + _FORMATS[value_type], raw)
    words = _to_words(data, word_order)
    return words if len(words) > 1 else [words[0]]


def decode_raw(registers: Sequence[int], value_type: str, word_order: str = "ABCD") -> float:
    """Unpack registers into a raw (unscaled) number."""
    count = REGISTER_COUNT[value_type]
    if len(registers) != count:
        raise CodecError(f"{value_type} needs {count} registers, got {len(registers)}")
    if value_type == "bool":
        return 1.0 if registers[0] else 0.0
    (raw,) = struct.unpack(">" + _FORMATS[value_type], _from_words(registers, word_order))
    return float(raw)


def encode(point: Point, value: float, exponent: int = 0) -> list[int]:
    """Engineering value → registers of ``point`` (or ``[0/1]`` for a bit)."""
    if not math.isfinite(value):
        raise CodecError(f"{point.name}: {value!r} is not a finite number")
    raw = (value - point.offset) / (point.scale * 10.0**exponent)
    try:
        return encode_raw(raw, point.type, point.word_order)
    except CodecError as exc:
        raise CodecError(f"{point.name}: {exc}") from None


def decode(point: Point, registers: Sequence[int], exponent: int = 0) -> float | None:
    """Registers of ``point`` → engineering value, or ``None`` for "no value" (1e8).

    Raise :class:`CodecError` for NaN or an infinity.
    """
    raw = decode_raw(registers, point.type, point.word_order)
    if not math.isfinite(raw):
        raise CodecError(f"{point.name} = {raw}: not a finite number")
    if point.type in ("float32", "float64") and raw == NO_VALUE:
        return None
    return raw * point.scale * 10.0**exponent + point.offset


#: SunSpec's "not implemented" value of a ``sunssf`` (int16) scale factor.
SF_NOT_IMPLEMENTED = -32768


def exponent_of(point: Point, factor: float | None) -> int:
    """The exponent a scale-factor point's value gives ``point``; CodecError when unusable."""
    if factor is None or factor == SF_NOT_IMPLEMENTED:
        raise CodecError(f"{point.name}: its scale factor {point.scale_factor} is not implemented")
    if not -10 <= factor <= 10 or factor != int(factor):
        raise CodecError(
            f"{point.name}: scale factor {point.scale_factor} = {factor:g}: must be -10..10"
        )
    return int(factor)


def float_bits(bits: int) -> float:
    """The float32 whose bit pattern is ``bits`` (FREEDM's Logger ``groupStatus`` encoding)."""
    (value,) = struct.unpack(">f", struct.pack(">I", bits))
    return float(value)
