"""What a simulated device does wrong, request by request (pure: the random source is given).

A device's faults start from its ``sim.faults`` table and change at run time through the
simulator's control interface (:mod:`simulators.control`). Every change is validated by the
same schema as the site file, so a bad command is refused with the field and the rule.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import ValidationError

from config.profile import Point
from config.simulation import FaultSettings
from device_drivers.codec import CodecError, encode, encode_raw

#: Link faults in the order they win when several are set.
LINK_FAULTS = ("close", "no_answer", "exception", "garbage")

_INT_LIMITS = {
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
}


class FaultError(ValueError):
    """A fault command was refused; the message names the field and the rule."""


def describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "faults"
        parts.append(f"{where}: {str(item['msg']).removeprefix('Value error, ')}")
    return "; ".join(parts)


@dataclass
class DeviceFaults:
    """The current faults of one device and the random source that draws them."""

    settings: FaultSettings = field(default_factory=FaultSettings)
    rng: random.Random = field(default_factory=random.Random)
    requests: int = 0
    injected: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, settings: FaultSettings) -> DeviceFaults:
        return cls(settings, random.Random(settings.seed))

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply changes (validated); ``values`` entries are merged, a ``None`` value removes."""
        merged = self.settings.model_dump()
        for key, value in changes.items():
            if key == "values" and isinstance(value, Mapping):
                values = dict(merged["values"])
                for name, reported in value.items():
                    if reported is None:
                        values.pop(str(name), None)
                    else:
                        values[str(name)] = reported
                merged["values"] = values
            else:
                merged[key] = value
        try:
            self.settings = FaultSettings.model_validate(merged)
        except ValidationError as exc:
            raise FaultError(describe(exc)) from None
        if "seed" in changes:
            self.rng = random.Random(self.settings.seed)

    def clear(self) -> None:
        self.settings = FaultSettings(seed=self.settings.seed)

    def delay_s(self) -> float:
        """How long this request waits before anything else happens."""
        s = self.settings
        jitter = self.rng.random() * s.jitter_ms if s.jitter_ms else 0.0
        return (s.latency_ms + jitter) / 1000.0

    def link_fault(self) -> str | None:
        """The link fault this request suffers, if any (``close``, ``no_answer``, ...)."""
        self.requests += 1
        s = self.settings
        wanted = [name for name in LINK_FAULTS if _is_set(s, name)]
        if not wanted or (s.rate < 1.0 and self.rng.random() >= s.rate):
            return None
        fault = wanted[0]
        self.injected[fault] = self.injected.get(fault, 0) + 1
        return fault

    def reported(self, point: Point) -> float | None:
        """The value this device reports for ``point`` instead of the plant's (None: none)."""
        return self.settings.values.get(point.name)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.settings.model_dump(),
            "requests": self.requests,
            "injected": dict(self.injected),
        }


def _is_set(settings: FaultSettings, name: str) -> bool:
    value = getattr(settings, name)
    return value is not None and value is not False


def forced_registers(point: Point, value: float) -> list[int]:
    """Registers that read back as ``value`` — or as close as the point's type allows.

    A lying device can report NaN or an infinity in a float register; an integer register
    saturates at its type's limits (so an out-of-range value still reads out of range).
    """
    try:
        return encode(point, value)
    except CodecError:
        pass
    if point.type in ("float32", "float64"):
        raw = (value - point.offset) / point.scale if math.isfinite(value) else value
        if point.type == "float32" and math.isfinite(raw):
            raw = math.copysign(struct.unpack(">f", b"\x7f\x7f\xff\xff")[0], raw)
        return encode_raw(raw, point.type, point.word_order)
    low, high = _INT_LIMITS.get(point.type, (0, 1))
    raw = (value - point.offset) / point.scale if math.isfinite(value) else value
    number = high if (math.isnan(raw) or raw > high) else low if raw < low else raw
    return encode_raw(number, point.type, point.word_order)
