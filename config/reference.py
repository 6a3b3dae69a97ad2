"""The configuration reference (``docs/configuration.md``), generated from the schema (pure).

:func:`sections_of` walks a pydantic model and the tables under it and gives one table per
TOML table: every key with its type, its default, the values it allows and its description.
:func:`site_files` does so for the site (:class:`config.site.SiteDocument`, with each device
type's ``sim`` table from :data:`config.simulation.SIM_SCHEMAS`) and the device profile
(:class:`config.profile.ProfileDocument`); ``dgi config-reference``
(:mod:`controller.cli.config_ref_cmd`) adds the ``dgi sim`` scenario, whose schema lives in
``controller`` (``config`` imports nothing of ours), and :func:`render` writes the page.

A description is the field's ``Field(description=...)``, else the comment written next to the
field in its class (on its line, or the comment lines right above it), else an entry of
:data:`DESCRIPTIONS` here. A key with none is an error (:class:`UndocumentedKey`, naming every
such key), and so is a validator this module has no wording for: the reference cannot
silently fall behind the schema. ``tests/unit/test_config_reference.py`` checks that the
committed file is this module's output.
"""

from __future__ import annotations

import inspect
import io
import re
import textwrap
import tokenize
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import AfterValidator, BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

__all__ = [
    "DESCRIPTIONS",
    "File",
    "Section",
    "UndocumentedKey",
    "render",
    "sections_of",
    "site_files",
]


class UndocumentedKey(ValueError):
    """Schema keys without a description (each as ``Model.field (path)``)."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = keys
        super().__init__(
            "undocumented key(s): " + ", ".join(keys) + " — add Field(description=...), a "
            "comment next to the field, or an entry of config.reference.DESCRIPTIONS"
        )


_TIMING = "ms (none: the profile's or the file's value): "

#: Descriptions of fields that carry neither a ``Field(description=...)`` nor a comment,
#: keyed ``Model.field`` (the class that declares the field).
DESCRIPTIONS: dict[str, str] = {
    # site file
    "SiteHeader.name": "the site's name (logs, metrics, the live page)",
    "SiteHeader.description": "free text",
    "AlgorithmSettings.mode": 'the load-balancing algorithm: "freedm" (FREEDM\'s fixed step) or '
    '"adaptive" (docs/algorithm.md)',
    "AlgorithmSettings.actuation": 'what a migration moves: the SST gateway setpoint ("sst", '
    'FREEDM\'s) or the storage setpoint ("desd")',
    "AlgorithmSettings.check_invariant": "check each round that the site's setpoint changes sum "
    "to 0 (tests and experiments)",
    "TimingsSettings.profile": "the named timing profile the other keys start from "
    '(docs/algorithm.md, "Timings")',
    "TimingsSettings.file": "a FREEDM timings.cfg (KEY=value lines, relative to the site file); "
    "its keys replace the profile's",
    "TimingsSettings.GM_PHASE_TIME": _TIMING + "the group-management phase",
    "TimingsSettings.SC_PHASE_TIME": _TIMING + "the state-collection phase",
    "TimingsSettings.LB_PHASE_TIME": _TIMING + "the load-balancing phase",
    "TimingsSettings.LB_ROUND_TIME": _TIMING + "one load-balancing round (several per phase)",
    "TimingsSettings.LB_REQUEST_TIMEOUT": _TIMING + "the request window of a round",
    "TimingsSettings.GM_AYC_RESPONSE_TIMEOUT": _TIMING + "the wait for AreYouCoordinator answers",
    "TimingsSettings.GM_AYT_RESPONSE_TIMEOUT": _TIMING + "the wait for AreYouThere answers",
    "TimingsSettings.GM_PREMERGE_MIN_TIMEOUT": _TIMING + "the least premerge wait",
    "TimingsSettings.GM_PREMERGE_MAX_TIMEOUT": _TIMING + "the most premerge wait",
    "TimingsSettings.GM_PREMERGE_GRANULARITY": _TIMING + "the step of the premerge wait",
    "TimingsSettings.GM_INVITE_RESPONSE_TIMEOUT": _TIMING + "the wait for Accept answers to an "
    "invitation",
    "TimingsSettings.CSRC_RESEND_TIME": _TIMING + "resend an unanswered message this often",
    "TimingsSettings.CSRC_DEFAULT_TIMEOUT": _TIMING + "a message's time to live",
    "TimingsSettings.DEV_RTDS_DELAY": _TIMING + "the pause between two cycles of an rtds adapter",
    "TimingsSettings.DEV_SOCKET_TIMEOUT": _TIMING + "an rtds read or write gives up after this",
    "TimingsSettings.DEV_PNP_HEARTBEAT": _TIMING + "FREEDM's plug-and-play heartbeat (accepted, "
    "not used)",
    "GridSettings.network": 'the feeder: "cigre-mv", "mv-oberrhein" or a pandapower .json file '
    "(relative to the site file; docs/grid.md)",
    "SimulationSettings.nominal_frequency": "the simulated bus's frequency at balance (FREEDM's "
    "rad/s: 376.8 = 60 Hz)",
    "SimulationSettings.profile_start_s": "the profile time the series start at (s; see "
    "time_scale)",
    "SimulationSettings.droop": "frequency droop of the simulated bus per unit of imbalance",
    "RtdsAdapter.name": "the adapter's name (devices name it as adapter)",
    "RtdsAdapter.host": "the device server's address",
    "RtdsAdapter.port": "the device server's TCP port",
    "RtdsAdapter.delay_ms": "the pause between two cycles (FREEDM's DEV_RTDS_DELAY)",
    "RtdsAdapter.timeout_ms": "a read or write gives up after this (FREEDM's DEV_SOCKET_TIMEOUT)",
    "RtdsAdapter.states": "the floats the controller reads, in packet order",
    "RtdsAdapter.commands": "the floats the controller writes, in packet order",
    "RtdsEntry.index": "the float's place in the packet, 1..N",
    "RtdsEntry.device": "a device id of the site (transport rtds, this adapter)",
    "RtdsEntry.signal": "a signal of the device's type",
    "NodeEntry.id": "the node's name (dgi run --node ID)",
    "NodeEntry.api": "where its API, live page and metrics listen (HOST:PORT)",
    "NodeEntry.peer": "where it listens for its peers' UDP datagrams (HOST:PORT)",
    "NodeEntry.capacity_kw": "the substation's capacity (the live page's scale, EV headroom)",
    "NodeEntry.devices": "the node's devices",
    "DeviceEntry.id": "the device's name, unique in the site",
    "DeviceEntry.type": "its device type: Sst, Desd, Drer, Load, Evse, Logger, Omega, Fid, Meter "
    "(config/device_types.toml)",
    "DeviceEntry.transport": "how the node reaches it (docs/devices.md)",
    "DeviceEntry.host": "modbus_tcp/simulated: the device's address; ocpp: where the node's "
    "central system listens",
    "DeviceEntry.port": "the TCP port that goes with host",
    "DeviceEntry.unit": "the Modbus unit (slave) id",
    "DeviceEntry.serial_port": "modbus_rtu: the serial device (e.g. /dev/ttyUSB0)",
    "DeviceEntry.baudrate": "modbus_rtu: bits per second",
    "DeviceEntry.parity": "modbus_rtu: none, even or odd",
    "DeviceEntry.bytesize": "modbus_rtu: data bits",
    "DeviceEntry.stopbits": "modbus_rtu: stop bits",
    "DeviceEntry.timeout_s": "a request gives up after this",
    "DeviceEntry.verify": "read every write back and compare",
    "DeviceEntry.stale_after_s": "a device not read successfully this long is stale",
    "DeviceEntry.values": "transport fake: the fixed value of each point (point name -> value)",
    "DeviceEntry.sim": "the simulated device's parameters: a table of its device type's sim "
    "keys (below)",
    # sim tables
    "Ramp.start_s": "when the ramp starts (profile s)",
    "Ramp.duration_s": "how long it takes",
    "Ramp.start": "the value before and at the start",
    "Ramp.end": "the value at the end and after",
    "Series.value": "a constant (a bare number is this)",
    "Series.ramp": "a ramp from start to end (its table below)",
    "Series.csv": "a CSV file (relative to the site file): a time column plus values, "
    "interpolated linearly; two rows at one time make a step",
    "Series.column": "csv: the column of values",
    "Series.time_column": "csv: the column of times (s)",
    "FaultSettings.latency_ms": "every request waits this long",
    "FaultSettings.jitter_ms": "plus up to this much more, at random",
    "FaultSettings.rate": "the fraction of requests the link faults below hit",
    "FaultSettings.close": "close the connection",
    "FaultSettings.no_answer": "swallow the request",
    "FaultSettings.exception": "answer with this Modbus exception code",
    "FaultSettings.garbage": "answer with bytes that are not a Modbus response",
    "FaultSettings.values": "point name -> the value reported instead of the plant's (nan, inf, "
    "out of range)",
    "FaultSettings.seed": "the seed of the fault's random choices",
    "DeviceSim.faults": "what the device does wrong (dgi fault changes it while it runs)",
    "SstSim.initial_kw": "the gateway at start (kW)",
    "DesdSim.initial_kw": "the storage setpoint at start (kW, + = discharging)",
    "DesdSim.capacity_kwh": "the battery's energy",
    "DesdSim.soc": "its state of charge at start (%)",
    "DesdSim.soc_min": "it stops discharging here (%)",
    "DesdSim.soc_max": "it stops charging here (%)",
    "DrerSim.generation": "the generation over time (kW)",
    "LoadSim.drain": "the load over time (kW)",
    "LoggerSim.dgi_enable": "the logger's enable switch at start",
    "FidSim.closed": "the breaker closed at start",
    # profile file
    "ProfileHeader.name": "the profile's name (devices name it as profile)",
    "ProfileHeader.device_type": "the device type whose signals it maps",
    "ProfileHeader.addressing": 'register numbers as written: "offset" (0-based) or '
    '"offset_plus" (1-based, as in many device manuals)',
    "ProfileHeader.word_order": "the word order of 32- and 64-bit values",
    "ProfileHeader.max_gap": "the most unused registers one block read may span",
    "ProfileHeader.description": "free text",
    "PointEntry.name": "the point's name, unique in the profile",
    "PointEntry.signal": "the device type's signal it carries (none: the point's name)",
    "PointEntry.table": "the Modbus table",
    "PointEntry.address": "the register or bit address (see addressing)",
    "PointEntry.type": "the value's encoding",
    "PointEntry.access": "read, write or both",
    "PointEntry.role": "for a signal that is both a state and a command: which this point is",
    "PointEntry.word_order": "this point's word order (none: the profile's)",
    "PointEntry.unit": "the engineering unit (text)",
    "PointEntry.scale": "value = raw × scale + offset",
    "PointEntry.offset": "value = raw × scale + offset",
    "PointEntry.min": "the least valid value; a reading below is a device fault, a command is "
    "clamped",
    "PointEntry.max": "the most valid value; a reading above is a device fault, a command is "
    "clamped",
    "PointEntry.failsafe": "written when the node fails safe or exits",
    "PointEntry.description": "free text",
}


@dataclass(frozen=True)
class Key:
    """One row of a table."""

    name: str
    type: str
    default: str
    allowed: str
    description: str
    field: str = ""  # Model.field: the class that declares it, and its name


@dataclass
class Section:
    """One TOML table (``[site]``, ``[[nodes.devices]]``, a device type's ``sim``)."""

    title: str
    intro: str
    keys: list[Key] = field(default_factory=list)


#: Models documented once, in their own section, and named by the keys that use them.
SHARED = ("Series", "Ramp", "Range", "FaultSettings")


#: One file of the reference: its title, its introduction, its tables.
File = tuple[str, str, list[Section]]


def site_files() -> list[File]:
    """The site file, a device's sim tables and the profile file."""
    from config.profile import ProfileDocument
    from config.simulation import SIM_SCHEMAS, DeviceSim
    from config.site import SiteDocument

    sim = [
        *sections_of(DeviceSim, "nodes.devices.sim", title="every device type"),
        *(
            section
            for kind, model in SIM_SCHEMAS.items()
            for section in sections_of(
                model, "nodes.devices.sim", title=f'type = "{kind}"', inherited=False
            )
        ),
        *_shared_sections(),
    ]
    return [
        ("The site file", _SITE_INTRO, sections_of(SiteDocument, "")),
        ("A device's sim table", _SIM_INTRO, sim),
        ("The profile file", _PROFILE_INTRO, sections_of(ProfileDocument, "")),
    ]


def render(files: Sequence[File]) -> str:
    """``docs/configuration.md`` of these files."""
    out = [_HEADER]
    for title, intro, sections in files:
        out += [f"## {title}", "", intro, ""]
        for section in sections:
            out += _render(section)
    return "\n".join(out).rstrip() + "\n"


def sections_of(
    model: type[BaseModel],
    path: str,
    *,
    title: str | None = None,
    inherited: bool = True,
    array: bool = False,
    descriptions: Mapping[str, str] | None = None,
) -> list[Section]:
    """The sections of ``model`` at ``path`` and of every table under it (raises
    :class:`UndocumentedKey` naming every key without a description). ``descriptions``
    adds to :data:`DESCRIPTIONS` (``Model.field`` -> text) for models outside ``config``."""
    sections: list[Section] = []
    missing: list[str] = []
    known = {**DESCRIPTIONS, **(descriptions or {})}
    _walk(model, path, title, inherited, array, sections, missing, known)
    if missing:
        raise UndocumentedKey(missing)
    return sections


def _walk(
    model: type[BaseModel],
    path: str,
    title: str | None,
    inherited: bool,
    array: bool,
    sections: list[Section],
    missing: list[str],
    known: Mapping[str, str],
) -> None:
    heading = title or (f"[[{path}]]" if array else f"[{path}]" if path else "top level")
    if title is not None and path:
        heading = f"{path} — {title}"
    section = Section(heading, _doc(model))
    sections.append(section)
    nested: list[tuple[type[BaseModel], str, bool]] = []
    for name, info in model.model_fields.items():
        owner = _owner(model, name)
        if not inherited and owner is not model:
            continue
        key = f"{path}.{name}" if path else name
        table, is_array = _table_model(info.annotation)
        if table is not None and table.__name__ not in SHARED and not _scalar_model(table):
            nested.append((table, key, is_array))
            if not path and name != "sim":
                continue  # a top-level table is its own section
        description = _describe(owner, name, info, known)
        if description is None:
            missing.append(f"{owner.__name__}.{name} ({key})")
            description = ""
        section.keys.append(
            Key(
                name,
                _type_text(info),
                _default_text(info),
                _allowed(info),
                description,
                f"{owner.__name__}.{name}",
            )
        )
    for table, key, is_array in nested:
        _walk(table, key, None, True, is_array, sections, missing, known)


def _shared_sections() -> list[Section]:
    from config.simulation import FaultSettings, Ramp, Series

    return [
        *sections_of(Series, "", title="a series (a value over time)"),
        *sections_of(Ramp, "", title="a series' ramp"),
        *sections_of(FaultSettings, "", title="sim.faults (Modbus devices)"),
    ]


def _scalar_model(model: type[BaseModel]) -> bool:
    return model.__name__ == "Range"


def _owner(model: type[BaseModel], name: str) -> type[BaseModel]:
    for klass in model.__mro__:
        if name in getattr(klass, "__annotations__", {}):
            return klass
    return model


def _doc(model: type[BaseModel]) -> str:
    if model.__doc__ is None or model.__doc__ == BaseModel.__doc__:
        return ""
    text = " ".join(inspect.cleandoc(model.__doc__).split())
    text = re.sub(r":(?:class|mod|data|func):`([^`]*)`", r"`\1`", text)
    return text.replace("``", "`")


def _describe(
    owner: type[BaseModel], name: str, info: FieldInfo, known: Mapping[str, str]
) -> str | None:
    if info.description:
        return info.description
    comment = _comments(owner).get(name)
    if comment:
        return comment
    return known.get(f"{owner.__name__}.{name}")


@cache
def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Field name -> the comment on its line, or else the comment lines right above it."""
    try:
        source = textwrap.dedent(inspect.getsource(model))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    trailing: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            trailing[token.start[0]] = token.string.lstrip("#").strip()
    found: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if not line.startswith("    ") or line.startswith("     ") or ":" not in stripped:
            continue
        name = stripped.split(":", 1)[0].strip()
        if not name.isidentifier() or name not in model.model_fields:
            continue
        text = trailing.get(number, "") if not stripped.startswith("#") else ""
        if text.startswith("fmt:") or text.startswith("noqa"):
            text = ""
        if not text:
            above: list[str] = []
            at = number - 1
            while at >= 1 and lines[at - 1].strip().startswith("#"):
                above.insert(0, lines[at - 1].strip().lstrip("#").strip())
                at -= 1
            text = " ".join(above)
        if text:
            found[name] = text
    return found


def _table_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model of a table-valued field, and whether it is an array of tables."""
    for arg in _flatten(annotation):
        if _is_model(arg):
            return arg, False
        origin = typing.get_origin(arg)
        if origin is list:
            (item,) = typing.get_args(arg)
            if _is_model(item):
                return item, True
    return None, False


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _flatten(annotation: Any) -> Iterator[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        yield from _flatten(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from _flatten(arg)
    else:
        yield annotation


def _type_text(info: FieldInfo) -> str:
    words = [_type_word(arg) for arg in _flatten(info.annotation) if arg is not type(None)]
    return " or ".join(dict.fromkeys(words))


def _type_word(arg: Any) -> str:
    origin = typing.get_origin(arg)
    if origin is Literal:
        kinds = {type(v) for v in typing.get_args(arg)}
        return "string" if kinds == {str} else "integer" if kinds == {int} else "value"
    if origin is list:
        (item,) = typing.get_args(arg)
        return f"list of {_type_word(_first(item))}"
    if origin is dict:
        _, value = typing.get_args(arg)
        if value is Any:
            return "table"
        words = [_type_word(a) for a in _flatten(value) if a is not type(None)]
        return "table of " + " or ".join(dict.fromkeys(words))
    if _is_model(arg):
        return f"{arg.__name__} table" if arg.__name__ in SHARED else "table"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    if arg in names:
        return names[arg]
    if arg is Any:
        return "any"
    raise ValueError(f"config.reference: no wording for the type {arg!r}")


def _first(annotation: Any) -> Any:
    words = [a for a in _flatten(annotation) if a is not type(None)]
    return words[0] if len(words) == 1 else annotation if len(words) == 0 else words[0]


def _default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "required"
    factory = info.default_factory
    return _value(factory() if factory is not None else info.default)  # type: ignore[call-arg]


def _value(value: Any) -> str:
    if value is None or value is PydanticUndefined:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, BaseModel):
        if type(value).__name__ == "Range":
            low, high = value.min, value.max  # type: ignore[attr-defined]
            return _value(low) if low == high else f"{{ min = {low}, max = {high} }}"
        if type(value).__name__ == "Series" and value.value is not None:  # type: ignore[attr-defined]
            return _value(value.value)  # type: ignore[attr-defined]
        return "(table)"
    if isinstance(value, (list, dict)) and not value:
        return "[]" if isinstance(value, list) else "{}"
    return str(value)


def _allowed(info: FieldInfo) -> str:
    words: list[str] = []
    for arg in _flatten(info.annotation):
        if typing.get_origin(arg) is Literal:
            words.append(", ".join(_value(v) for v in typing.get_args(arg)))
    for meta in _metadata(info):
        words.append(_constraint(meta))
    return "; ".join(w for w in dict.fromkeys(words) if w)


def _metadata(info: FieldInfo) -> Iterator[Any]:
    yield from info.metadata
    yield from _annotated_metadata(info.annotation)


def _annotated_metadata(annotation: Any) -> Iterator[Any]:
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        yield from typing.get_args(annotation)[1:]
        yield from _annotated_metadata(typing.get_args(annotation)[0])
    elif origin in (typing.Union, types.UnionType, list, dict):
        for arg in typing.get_args(annotation):
            if typing.get_origin(arg) is Annotated and origin is not dict:
                yield from _annotated_metadata(arg)


def _constraint(meta: Any) -> str:
    if isinstance(meta, AfterValidator):
        return _validator(meta.func)
    bounds = {
        annotated_types.Gt: ("gt", ">"),
        annotated_types.Ge: ("ge", ">="),
        annotated_types.Lt: ("lt", "<"),
        annotated_types.Le: ("le", "<="),
    }
    for kind, (attribute, sign) in bounds.items():
        if isinstance(meta, kind):
            return f"{sign} {_number(getattr(meta, attribute))}"
    if isinstance(meta, FieldInfo):
        return "; ".join(_constraint(m) for m in meta.metadata)
    if type(meta).__name__ == "_PydanticGeneralMetadata":
        return ""  # allow_inf_nan and the like: said in the description
    raise ValueError(f"config.reference: no wording for the constraint {meta!r}")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_VALIDATORS: dict[str, str] = {
    "positive": "> 0",
    "not_negative": ">= 0",
    "_is_name": "a name: letters, digits, - _ .",
    "valid_host": "a host name or IP address",
    "_percent": "0..100",
    "_fraction": "0..1",
    "_network": '"cigre-mv", "mv-oberrhein" or a .json file',
    "_host_port": "HOST:PORT",
}


def _validator(func: Callable[..., Any]) -> str:
    if func.__qualname__ == "in_range.<locals>.check":
        cells = dict(
            zip(
                func.__code__.co_freevars,
                (c.cell_contents for c in func.__closure__ or ()),
                strict=True,
            )
        )
        return f"{cells['low']}..{cells['high']}"
    if func.__name__ in _VALIDATORS:
        return _VALIDATORS[func.__name__]
    raise ValueError(f"config.reference: no wording for the validator {func.__qualname__}")


def _render(section: Section) -> list[str]:
    if not section.keys and section.title == "top level":
        return []
    out = [f"### {section.title}", ""]
    if section.intro:
        out += [section.intro, ""]
    if not section.keys:
        out += ["(no keys of its own)", ""]
        return out
    out += ["| key | type | default | allowed | description |", "|---|---|---|---|---|"]
    for key in section.keys:
        cells = [f"`{key.name}`", key.type, _code(key.default), key.allowed, key.description]
        out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    out.append("")
    return out


def _cell(text: str) -> str:
    """A table cell: no column breaks, no HTML tags (``<node>`` would vanish)."""
    return text.replace("|", "\\|").replace("<", "&lt;")


def _code(text: str) -> str:
    return text if text in ("required", "none", "(table)") else f"`{text}`"


_HEADER = """# Configuration reference

Generated from the schema by `dgi config-reference` (`config/reference.py`); do not edit:
`tests/unit/test_config_reference.py` fails when this file differs from the generator's output
and when a key of the schema has no description. `dgi check-config SITE` validates a site
against the same schema (every error with file, line, path, value and rule).

Every table refuses unknown keys, and values are not converted: `1` is not `"1"`, an integer
is accepted where a number goes, `nan` and `inf` are refused wherever a number goes (except a
fault's reported values). "none" as a default means the key is absent; what its absence means
is in the description.
"""

_SITE_INTRO = (
    "A site (`config/examples/*.toml`) names the nodes, their devices and the site-wide settings "
    "(`docs/devices.md`, `docs/algorithm.md`). Paths in it are relative to the site file."
)
_SIM_INTRO = (
    'A device with `transport = "simulated"` (or a simulated OCPP charge point) has a `sim` '
    "table of its device type's keys; `dgi simulate` and `dgi demo` play it (`docs/devices.md`, "
    "`docs/faults.md`). A *series* is a number (a constant) or one of the tables below."
)
_PROFILE_INTRO = (
    "A profile (`config/profiles/*.toml`) is the register map of one device model, shared by the "
    'driver and the simulator (`docs/devices.md`, "Profiles").'
)
