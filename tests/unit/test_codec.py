"""Codec byte vectors: every type and word order, scale/offset, "no value", range errors."""

from __future__ import annotations

import math

import pytest

from config.profile import Point, Registers
from device_drivers.codec import (
    NO_VALUE,
    CodecError,
    decode,
    decode_raw,
    encode,
    encode_raw,
    float_bits,
)


def point(
    type_: str = "float32", order: str = "ABCD", scale: float = 1.0, offset: float = 0.0
) -> Point:
    return Point(
        name="p", signal="p", location=Registers("holding", 0, order), type=type_, access="rw",  # type: ignore[arg-type]
        unit="", scale=scale, offset=offset,  # type: ignore[arg-type]
        min=None, max=None, failsafe=None, roles=frozenset({"state"}),
    )  # fmt: skip


# 123.456 as float32 is 0x42F6E979; as float64 0x405EDD2F1A9FBE77.
VECTORS = [
    ("int16", "ABCD", -2, [0xFFFE]),
    ("int16", "ABCD", 12345, [0x3039]),
    ("uint16", "ABCD", 65535, [0xFFFF]),
    ("uint16", "ABCD", 258, [0x0102]),
    ("bool", "ABCD", 1, [1]),
    ("bool", "ABCD", 0, [0]),
    ("int32", "ABCD", 0x01020304, [0x0102, 0x0304]),
    ("int32", "CDAB", 0x01020304, [0x0304, 0x0102]),
    ("int32", "BADC", 0x01020304, [0x0201, 0x0403]),
    ("int32", "DCBA", 0x01020304, [0x0403, 0x0201]),
    ("int32", "ABCD", -2, [0xFFFF, 0xFFFE]),
    ("uint32", "ABCD", 0xA1B2C3D4, [0xA1B2, 0xC3D4]),
    ("uint32", "CDAB", 0xA1B2C3D4, [0xC3D4, 0xA1B2]),
    ("uint32", "BADC", 0xA1B2C3D4, [0xB2A1, 0xD4C3]),
    ("uint32", "DCBA", 0xA1B2C3D4, [0xD4C3, 0xB2A1]),
    ("float32", "ABCD", 123.456, [0x42F6, 0xE979]),
    ("float32", "CDAB", 123.456, [0xE979, 0x42F6]),
    ("float32", "BADC", 123.456, [0xF642, 0x79E9]),
    ("float32", "DCBA", 123.456, [0x79E9, 0xF642]),
    ("float64", "ABCD", 123.456, [0x405E, 0xDD2F, 0x1A9F, 0xBE77]),
    ("float64", "CDAB", 123.456, [0xBE77, 0x1A9F, 0xDD2F, 0x405E]),
    ("float64", "BADC", 123.456, [0x5E40, 0x2FDD, 0x9F1A, 0x77BE]),
    ("float64", "DCBA", 123.456, [0x77BE, 0x9F1A, 0x2FDD, 0x5E40]),
]


@pytest.mark.parametrize(("type_", "order", "value", "registers"), VECTORS)
def test_encode_matches_byte_vector(
    type_: str, order: str, value: float, registers: list[int]
) -> None:
    assert encode_raw(value, type_, order) == registers


@pytest.mark.parametrize(("type_", "order", "value", "registers"), VECTORS)
def test_decode_matches_byte_vector(
    type_: str, order: str, value: float, registers: list[int]
) -> None:
    decoded = decode_raw(registers, type_, order)
    if type_ == "float32":
        assert decoded == pytest.approx(value, rel=1e-7)
    else:
        assert decoded == value


@pytest.mark.parametrize(
    ("type_", "scale", "offset", "value", "raw"),
    [
        ("int32", 0.01, 0.0, 25.0, 2500),
        ("int16", 0.1, -40.0, 21.5, 615),
        ("uint16", 10.0, 0.0, 1230.0, 123),
        ("float32", 1000.0, 0.0, 2000.0, 2.0),
    ],
)
def test_scale_and_offset(
    type_: str, scale: float, offset: float, value: float, raw: float
) -> None:
    p = point(type_, scale=scale, offset=offset)
    registers = encode(p, value)
    assert decode_raw(registers, type_) == raw
    assert decode(p, registers) == pytest.approx(value)


@pytest.mark.parametrize("type_", ["float32", "float64"])
def test_freedm_null_reads_as_no_value(type_: str) -> None:
    p = point(type_)
    assert decode(p, encode_raw(NO_VALUE, type_)) is None


@pytest.mark.parametrize("type_", ["float32", "float64"])
@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_readings_are_refused(type_: str, raw: float) -> None:
    with pytest.raises(CodecError, match="not a finite number"):
        decode(point(type_), encode_raw(raw, type_))


def test_1e8_in_an_integer_is_a_number() -> None:
    assert decode(point("uint32"), encode_raw(NO_VALUE, "uint32")) == NO_VALUE


@pytest.mark.parametrize(
    ("type_", "value"),
    [("int16", 40000), ("uint16", -1), ("int32", 2**31), ("uint32", 2**32), ("float32", 1e39)],
)
def test_values_that_do_not_fit_are_refused(type_: str, value: float) -> None:
    with pytest.raises(CodecError, match="does not fit"):
        encode(point(type_), value)


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(CodecError, match="not a finite number"):
        encode(point(), math.inf)


def test_wrong_register_count_is_an_error() -> None:
    with pytest.raises(CodecError, match="needs 2 registers, got 1"):
        decode_raw([1], "float32")


def test_group_status_float_has_the_integer_bits() -> None:
    value = float_bits(0b1011)
    assert encode_raw(value, "float32") == [0, 0b1011]
