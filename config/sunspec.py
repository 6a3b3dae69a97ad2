"""SunSpec register maps generated from the model definitions ``pysunspec2`` ships.

A device entry says ``profile = "sunspec:103"`` (or ``"sunspec:1,103,124@50000"``): the models
in the order the device chains them (``dgi probe --sunspec`` prints that order), the common
model 1 first (added when missing), and the base address (40000 unless ``@0`` or ``@50000``).
The chain is laid out as the SunSpec specification says: the marker ``"SunS"`` (two registers)
at the base, then each model as ``ID, L`` and its ``L`` registers, then ``0xFFFF, 0``.

Only the points our device types need become profile points, in kW and % (``SIGNALS``); each
value point names its ``*_SF`` point as its ``scale_factor``, and the driver applies 10^SF.
The marker, the headers and the scale factors are ``fixed`` points: the simulator serves them
(scale factors from ``SERVED_SF``), the driver reads the scale factors the device reports.

This is the only module that imports ``sunspec2``; only its JSON definitions are used — the
registers are read by our async Modbus driver, not by pysunspec2's blocking client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sunspec2

from config.profile import Point, Profile, Registers

PREFIX = "sunspec:"
BASES = (40000, 0, 50000)
#: "SunS" as two big-endian registers.
MARKER = (0x5375, 0x6E53)
END_ID = 0xFFFF
COMMON = 1
INVERTERS = (101, 102, 103, 701, 702, 703, 704, 705)
STORAGE = (124, 802)
MEASURING = (103, 102, 101, 701)  # the models whose W is the device's AC power
KNOWN = (COMMON, *INVERTERS, *STORAGE)

#: signal → (model, point) candidates, first match in the device's models wins; units
#: converted by ``scale``. ``storage`` is + when discharging (an inverter's W is + exporting).
SIGNALS: dict[str, dict[str, list[tuple[int, str, float]]]] = {
    "Drer": {"generation": [(m, "W", 0.001) for m in MEASURING]},
    "Desd": {
        "storage": [(m, "W", 0.001) for m in MEASURING] + [(802, "W", 0.001)],
        "soc": [(802, "SoC", 1.0), (124, "ChaState", 1.0)],
        "soc_min": [(802, "SoCMin", 1.0), (124, "MinRsvPct", 1.0)],
        "soc_max": [(802, "SoCMax", 1.0)],
    },
}
#: Desd's command ``storage`` (kW, + = discharge): DER AC controls' active-power setpoint.
COMMAND = (704, "WSet", 0.001)
COMMAND_LIMIT_KW = 1000.0
#: The scale factors the simulator serves (W in 10 W steps: ±327 kW in an int16).
SERVED_SF = {"W_SF": 1, "SoC_SF": -1, "ChaState_SF": -1, "MinRsvPct_SF": -1, "WSet_SF": 0}
_UNITS = {"W": "kW", "WSet": "kW"}
_SIZES = {"int16": 1, "uint16": 1, "sunssf": 1, "enum16": 1, "bitfield16": 1, "pad": 1,
          "int32": 2, "uint32": 2, "acc32": 2, "bitfield32": 2, "float32": 2, "ipaddr": 2,
          "int64": 4, "uint64": 4, "acc64": 4, "float64": 4, "ipv6addr": 8, "eui48": 4}  # fmt: skip
_TYPES = {"int16": "int16", "uint16": "uint16", "sunssf": "int16", "int32": "int32",
          "uint32": "uint32", "enum16": "uint16"}  # fmt: skip


class SunSpecError(ValueError):
    """A ``sunspec:`` reference names something the definitions cannot give."""


@dataclass(frozen=True)
class ModelInfo:
    id: int
    name: str
    label: str
    length: int  # L: registers after the ID and L words
    points: dict[str, tuple[int, str, str | None]]  # name → (offset from ID, type, sf)


@cache
def model(model_id: int) -> ModelInfo:
    """A model's definition (pysunspec2's JSON); SunSpecError when there is none."""
    path = Path(sunspec2.__file__).parent / "models" / "json" / f"model_{model_id}.json"
    if not path.is_file():
        raise SunSpecError(f"no SunSpec model {model_id} in pysunspec2's definitions")
    group = json.loads(path.read_text(encoding="utf-8"))["group"]
    points: dict[str, tuple[int, str, str | None]] = {}
    length = _lay_out(group, 0, points)
    return ModelInfo(model_id, group["name"], group.get("label", ""), length - 2, points)


def _lay_out(group: dict[str, Any], offset: int, points: dict[str, Any]) -> int:
    """Offsets of the top-level points; a repeating group counts once (see docs/devices.md)."""
    for point in group.get("points", []):
        if group.get("_top", True):
            points.setdefault(point["name"], (offset, point["type"], point.get("sf")))
        offset += point.get("size") or _SIZES[point["type"]]
    for sub in group.get("groups", []):
        count = sub.get("count", 1)
        repeat = count if isinstance(count, int) else 1
        for _ in range(repeat):
            offset = _lay_out({**sub, "_top": False}, offset, points)
    return offset


def parse(reference: str) -> tuple[tuple[int, ...], int, dict[int, int]]:
    """``"sunspec:1,103@40000"`` → ((1, 103), 40000, {}); a model may carry the length its
    device reports (``705:218``: a device with more curves than the definition's one) — the
    models after it are placed by it. SunSpecError naming the rule."""
    body = reference.removeprefix(PREFIX)
    ids, _, base_text = body.partition("@")
    lengths: dict[int, int] = {}
    try:
        models = []
        for part in ids.split(","):
            model_text, colon, length_text = part.partition(":")
            models.append(int(model_text))
            if colon:
                lengths[models[-1]] = int(length_text)
        base = int(base_text) if base_text else BASES[0]
    except ValueError:
        raise SunSpecError(
            f"{reference!r}: expected sunspec:MODEL[:LENGTH][,MODEL...][@BASE], e.g. sunspec:103"
        ) from None
    if base not in BASES:
        raise SunSpecError(f"{reference!r}: base address must be one of 40000, 0, 50000")
    unknown = [m for m in models if m not in KNOWN]
    if unknown:
        known = ", ".join(str(m) for m in KNOWN)
        raise SunSpecError(f"{reference!r}: model {unknown[0]} is not supported; known: {known}")
    for model_id, length in lengths.items():
        least = max((offset + _SIZES.get(kind, 1) for offset, kind, _ in
                     model(model_id).points.values()), default=2) - 2  # fmt: skip
        if not least <= length <= 65534:
            raise SunSpecError(f"{reference!r}: model {model_id}'s length {length} is shorter "
                               f"than its fixed points ({least}) or not a length")  # fmt: skip
    chained = tuple(models) if models[0] == COMMON else (COMMON, *models)
    return chained, base, lengths


def chain(models: tuple[int, ...], base: int, lengths: dict[int, int]) -> dict[int, int]:
    """Each model's ID address (0-based PDU), laid out from the base after the marker."""
    starts, address = {}, base + 2
    for model_id in models:
        starts[model_id] = address
        address += 2 + lengths.get(model_id, model(model_id).length)
    return starts


def sunspec_profile(reference: str) -> Profile:
    """The register-map profile of a ``sunspec:`` reference; SunSpecError when it has none."""
    models, base, lengths = parse(reference)
    kind = "Desd" if any(m in STORAGE for m in models) else "Drer"
    if kind == "Drer" and not any(m in MEASURING for m in models):
        raise SunSpecError(f"{reference!r}: needs an inverter model (101-103 or 701) for W")
    starts = chain(models, base, lengths)
    points: dict[str, Point] = {}
    _fixed(points, "SunS", base, "uint32", MARKER[0] << 16 | MARKER[1])
    for model_id, start in starts.items():
        _fixed(points, f"m{model_id}.ID", start, "uint16", model_id)
        length = lengths.get(model_id, model(model_id).length)
        _fixed(points, f"m{model_id}.L", start + 1, "uint16", length)
    end = base + 2 + sum(2 + lengths.get(m, model(m).length) for m in models)
    _fixed(points, "end.ID", end, "uint16", END_ID)
    _fixed(points, "end.L", end + 1, "uint16", 0)
    for signal, candidates in SIGNALS[kind].items():
        found = next(((m, p, s) for m, p, s in candidates if m in starts), None)
        if found is not None:
            _value(points, signal, found, starts, roles=frozenset({"state"}))
    if kind == "Desd":
        if COMMAND[0] not in starts:
            raise SunSpecError(
                f"{reference!r}: a Desd needs the command storage: add model 704 (DER AC "
                "controls, WSet); 124 and 802 have no kW setpoint"
            )
        _value(points, "storage", COMMAND, starts, roles=frozenset({"command"}))
    if "storage" in SIGNALS[kind] and not any(p.signal == "storage" and p.is_state
                                              for p in points.values()):  # fmt: skip
        raise SunSpecError(f"{reference!r}: needs a model with W (101-103, 701 or 802)")
    return Profile(
        name=f"sunspec-{'-'.join(str(m) for m in models)}@{base}",
        device_type=kind,
        max_gap=125,
        points=tuple(sorted(points.values(), key=lambda p: p.address)),
        source=reference,
        description=", ".join(model(m).label or model(m).name for m in models),
    )


def _fixed(points: dict[str, Point], name: str, address: int, kind: str, value: float) -> None:
    points[name] = _point(name, address, kind, fixed=value)


def _value(
    points: dict[str, Point],
    signal: str,
    where: tuple[int, str, float],
    starts: dict[int, int],
    *,
    roles: frozenset[Any],
) -> None:
    model_id, name, scale = where
    info = model(model_id)
    offset, kind, sf = info.points[name]
    start = starts[model_id]
    sf_name = None
    if sf is not None:
        sf_name = f"m{model_id}.{sf}"
        sf_offset = info.points[sf][0]
        points[sf_name] = _point(sf_name, start + sf_offset, "sunssf", fixed=SERVED_SF.get(sf, 0))
    command = "command" in roles
    limit = COMMAND_LIMIT_KW if command else None
    points[f"m{model_id}.{name}"] = Point(
        name=f"m{model_id}.{name}",
        signal=signal,
        location=Registers("holding", start + offset),
        type=_TYPES[kind],  # type: ignore[arg-type]
        access="rw" if command else "r",
        unit=_UNITS.get(name, "%"),
        scale=scale,
        offset=0.0,
        min=None if limit is None else -limit,
        max=limit,
        failsafe=0.0 if command else None,
        roles=roles,
        description=f"SunSpec model {model_id} {info.name} {name}",
        scale_factor=sf_name,
    )


def _point(name: str, address: int, kind: str, *, fixed: float) -> Point:
    return Point(
        name=name, signal=name, location=Registers("holding", address),
        type=_TYPES.get(kind, kind),  # type: ignore[arg-type]
        access="r", unit="", scale=1.0, offset=0.0, min=None, max=None,
        failsafe=None, roles=frozenset(), fixed=fixed,
    )  # fmt: skip


def defined_length(model_id: int) -> int | None:
    """A supported model's length as its definition lays it out (None: not supported)."""
    return model(model_id).length if model_id in KNOWN else None


def model_name(model_id: int) -> str:
    """A model's name for ``dgi probe --sunspec`` ("" when pysunspec2 has no definition)."""
    try:
        return model(model_id).name
    except SunSpecError:
        return ""
