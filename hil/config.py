"""The simulation server's configuration: shape, then cross-checks, every problem at once.

A file lists adapters (HIL.md §3, FREEDM's ``simserv.xml`` in TOML)::

    [server]
    host = "127.0.0.1"            # optional; an adapter's own host wins

    [[adapters]]
    name = "sst1"
    type = "rtds"                 # a controller's port; "simulation": PSCAD's
    port = 5001

    [[adapters.states]]
    index = 1
    device = "sst1-gateway"
    type = "Sst"
    signal = "gateway"
    value = 0.0                   # optional initial value

    [[adapters.commands]]         # ... and the command table (``commands = []`` if none)

:func:`check_document` refuses each defect of HIL.md §4 that applies to a server (unknown
adapter type, missing table, indices not 1..N, duplicate index, a (device, signal) twice in a
table, one device with two types, an entry missing or adding a field, a signal the type does
not have, an undefined type, two adapters with one name or one port) and conflicting initial
values, as :class:`~config.errors.ConfigIssue` rows naming file, line, entry and rule. It is
pure: reading the file is :func:`hil.loader.load_simserver_config`'s job. Rules that concern
only a controller's tables (every signal of a device's type present, a device id in one
adapter only) do not apply here: a server table may carry any subset of a device's signals,
and the same cell in many adapters is the point.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from config.device_types import DeviceType, device_types
from config.errors import ConfigError, ConfigIssue, format_path
from config.tomlfile import locate
from hil.extensions import Extensions, ModbusExposure, PlantSettings

AdapterType = Literal["rtds", "simulation"]
ADAPTER_TYPES: tuple[AdapterType, ...] = ("rtds", "simulation")
TableName = Literal["states", "commands"]
TABLES: tuple[TableName, ...] = ("states", "commands")
DEFAULT_HOST = "127.0.0.1"
#: An rtds port with an empty command table never hears from its client: it sends the
#: state packet at this period instead (the original streamed as fast as TCP allowed).
DEFAULT_STREAM_INTERVAL_MS = 50.0
#: How long the simulation port waits for a whole request before refusing it.
DEFAULT_REQUEST_TIMEOUT_MS = 2000.0

_TOP_KEYS = ("server", "adapters", "plant", "modbus")
_SERVER_KEYS = ("host", "request_timeout_ms")
_ADAPTER_KEYS = ("name", "type", "port", "host", "stream_interval_ms", "states", "commands")
_ENTRY_KEYS = ("index", "device", "type", "signal", "value")
_ENTRY_REQUIRED = ("index", "device", "type", "signal")
_WILDCARDS = ("", "0.0.0.0", "::")
_XML_TYPE_HINT = (
    ": the original's XML has no <type>; give one, or a signal of exactly one device type"
)

Loc = tuple[str | int, ...]
Locator = Callable[[Loc], int | None]


@dataclass(frozen=True)
class Entry:
    """One table entry: the value at position ``index`` (1-based) of the packet."""

    index: int
    device: str
    type: str
    signal: str
    value: float | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.device, self.signal)


@dataclass(frozen=True)
class Adapter:
    """One listening port and its two tables, entries in index order."""

    name: str
    type: AdapterType
    host: str
    port: int
    states: tuple[Entry, ...]
    commands: tuple[Entry, ...]
    stream_interval_s: float = DEFAULT_STREAM_INTERVAL_MS / 1000

    @property
    def state_keys(self) -> tuple[tuple[str, str], ...]:
        return tuple(entry.key for entry in self.states)

    @property
    def command_keys(self) -> tuple[tuple[str, str], ...]:
        return tuple(entry.key for entry in self.commands)


@dataclass(frozen=True)
class SimServerConfig:
    """A checked simulation-server configuration."""

    file: str
    adapters: tuple[Adapter, ...]
    request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_MS / 1000
    plant: PlantSettings | None = None  # [plant]: the built-in plant (hil.extensions)
    modbus: tuple[ModbusExposure, ...] = ()  # [[modbus]]: cells served as Modbus devices

    def adapter(self, name: str) -> Adapter:
        for adapter in self.adapters:
            if adapter.name == name:
                return adapter
        raise KeyError(f"no adapter named {name!r}")

    def initial(self, table: TableName) -> dict[tuple[str, str], float]:
        """The initial value of every cell of ``table`` that has one."""
        return {
            entry.key: entry.value
            for adapter in self.adapters
            for entry in getattr(adapter, table)
            if entry.value is not None
        }

    def keys(self, table: TableName) -> list[tuple[str, str]]:
        """Every cell of ``table`` once, in the order the file names them."""
        found: dict[tuple[str, str], None] = {}
        for adapter in self.adapters:
            for entry in getattr(adapter, table):
                found.setdefault(entry.key)
        return list(found)


def check_document(
    raw: dict[str, Any],
    text: str,
    file: str,
    *,
    where: Locator | None = None,
    xml: bool = False,
) -> SimServerConfig:
    """Check a parsed file; raise :class:`ConfigError` listing every problem. Lines come
    from the TOML ``text``, or from ``where`` (the XML form, :mod:`hil.xmlconfig`)."""
    checker = _Checker(file, text, where, xml)
    config = checker.check(raw)
    if checker.issues or config is None:
        raise ConfigError(checker.issues)
    return config


@dataclass
class _Checker:
    file: str
    text: str
    where: Locator | None = None
    xml: bool = False
    issues: list[ConfigIssue] = field(default_factory=list)
    _types: dict[str, DeviceType] = field(default_factory=device_types)
    _device_types: dict[str, tuple[str, Loc]] = field(default_factory=dict)
    _initial: dict[tuple[TableName, str, str], tuple[float, Loc]] = field(default_factory=dict)

    def add(self, loc: Loc, rule: str, *value: object) -> None:
        shown = {"value": value[0]} if value else {}
        if self.where is not None:
            line = self.where(loc)
        else:
            line = locate(self.text, loc) if self.text else None
        self.issues.append(ConfigIssue(self.file, format_path(loc), rule, line=line, **shown))

    def unknown_keys(self, table: dict[str, Any], allowed: Sequence[str], loc: Loc) -> None:
        for key in table:
            if key not in allowed:
                self.add((*loc, key), f"unknown key; allowed: {', '.join(allowed)}")

    def check(self, raw: dict[str, Any]) -> SimServerConfig | None:
        self.unknown_keys(raw, _TOP_KEYS, ())
        server = raw.get("server", {})
        host, timeout_ms = DEFAULT_HOST, DEFAULT_REQUEST_TIMEOUT_MS
        if not isinstance(server, dict):
            self.add(("server",), "must be a table")
        else:
            self.unknown_keys(server, _SERVER_KEYS, ("server",))
            host = self.host(server, ("server",)) or host
            timeout_ms = self.positive(server, "request_timeout_ms", ("server",)) or timeout_ms
        listed = raw.get("adapters")
        if listed is None:
            self.add(("adapters",), "required key missing: list the ports as [[adapters]]")
            return None
        if not isinstance(listed, list) or not all(isinstance(a, dict) for a in listed):
            self.add(("adapters",), "must be a list of tables ([[adapters]])")
            return None
        if not listed:
            self.add(("adapters",), "must not be empty")
        adapters = [self.adapter(body, ("adapters", i), host) for i, body in enumerate(listed)]
        self.across(listed, host)
        plant, modbus = self.extensions(raw, listed, host)
        if self.issues or None in adapters:
            return None
        return SimServerConfig(
            self.file,
            tuple(a for a in adapters if a is not None),
            timeout_ms / 1000,
            plant=plant,
            modbus=modbus or (),
        )

    def extensions(
        self,
        raw: dict[str, Any],
        listed: list[dict[str, Any]],
        host: str,
    ) -> tuple[PlantSettings | None, tuple[ModbusExposure, ...] | None]:
        """``[plant]`` and ``[[modbus]]`` (:mod:`hil.extensions`), against the adapters."""
        if "plant" not in raw and "modbus" not in raw:
            return None, ()
        checks = Extensions(
            self.add,
            self.issues.extend,
            self.file,
            self.text,
            {device: kind for device, (kind, _loc) in self._device_types.items()},
        )
        modbus = checks.modbus(raw.get("modbus"), host)
        if modbus:
            ports = []
            for i, body in enumerate(listed):
                port, where = body.get("port"), body.get("host", host)
                if isinstance(port, int) and port and isinstance(where, str):
                    ports.append((where, port, ("adapters", i)))
            checks.modbus_across(modbus, ports)
        simulated: list[tuple[str, str, Loc]] = []
        for i, body in enumerate(listed):
            states = body.get("states")
            if body.get("type") != "simulation" or not isinstance(states, list):
                continue
            for n, entry in enumerate(states):
                if isinstance(entry, dict) and isinstance(entry.get("device"), str):
                    loc: Loc = ("adapters", i, "states", n)
                    simulated.append((entry["device"], str(entry.get("signal")), loc))
        plant = checks.plant(raw.get("plant"), modbus or (), simulated)
        return plant, modbus

    def host(self, table: dict[str, Any], loc: Loc) -> str | None:
        value = table.get("host")
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.add((*loc, "host"), "must be a non-empty string (an address to listen on)", value)
            return None
        return value

    def positive(self, table: dict[str, Any], key: str, loc: Loc) -> float | None:
        value = table.get(key)
        if value is None:
            return None
        if not _is_number(value) or not value > 0:
            self.add((*loc, key), "must be a number > 0", value)
            return None
        return float(value)

    def adapter(self, body: dict[str, Any], loc: Loc, default_host: str) -> Adapter | None:
        self.unknown_keys(body, _ADAPTER_KEYS, loc)
        ok = True
        name = body.get("name")
        if name is None:
            self.add((*loc, "name"), "required key missing")
            ok = False
        elif not _is_name(name):
            self.add(
                (*loc, "name"), "must be a non-empty name of letters, digits, '-', '_' or '.'", name
            )
            ok = False
        kind = body.get("type")
        if kind is None:
            self.add((*loc, "type"), "required key missing: rtds or simulation")
            ok = False
        elif kind not in ADAPTER_TYPES:
            self.add((*loc, "type"), "unknown adapter type; must be rtds or simulation", kind)
            ok = False
        port = body.get("port")
        if port is None:
            self.add((*loc, "port"), "required key missing")
            ok = False
        elif not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
            self.add((*loc, "port"), "must be an integer 0..65535 (0: any free port)", port)
            ok = False
        host = self.host(body, loc) or default_host
        interval_ms = self.positive(body, "stream_interval_ms", loc) or DEFAULT_STREAM_INTERVAL_MS
        tables: dict[TableName, tuple[Entry, ...]] = {}
        for table in TABLES:
            entries = self.table(body, table, loc)
            if entries is None:
                ok = False
            else:
                tables[table] = entries
        if not ok:
            return None
        return Adapter(
            name=str(name),
            type=kind,  # type: ignore[arg-type]  # checked against ADAPTER_TYPES above
            host=host,
            port=int(port),  # type: ignore[arg-type]  # checked to be an int above
            states=tables["states"],
            commands=tables["commands"],
            stream_interval_s=interval_ms / 1000,
        )

    def table(self, body: dict[str, Any], table: TableName, loc: Loc) -> tuple[Entry, ...] | None:
        tloc = (*loc, table)
        listed = body.get(table)
        if listed is None:
            what = "state" if table == "states" else "command"
            self.add(
                tloc,
                f"required key missing: every adapter has a {what} table "
                + (
                    f"(an empty one is written <{what}/>)"
                    if self.xml
                    else f"(an empty one is written {table} = [])"
                ),
            )
            return None
        if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
            self.add(tloc, f"must be a list of tables ([[adapters.{table}]])")
            return None
        entries: list[Entry] = []
        ok = True
        by_index: dict[int, int] = {}
        by_key: dict[tuple[str, str], int] = {}
        for n, raw in enumerate(listed):
            entry = self.entry(raw, table, (*tloc, n))
            if entry is None:
                ok = False
                continue
            eloc = (*tloc, n)
            if entry.index in by_index:
                self.add(
                    (*eloc, "index"),
                    f"duplicate index (also {table}[{by_index[entry.index]}])",
                    entry.index,
                )
                ok = False
            else:
                by_index[entry.index] = n
            if entry.key in by_key:
                self.add(
                    eloc,
                    f"({entry.device!r}, {entry.signal!r}) is already in this table at "
                    f"{table}[{by_key[entry.key]}]; each (device, signal) once per table",
                )
                ok = False
            else:
                by_key[entry.key] = n
            entries.append(entry)
        indices = sorted(by_index)
        if indices != list(range(1, len(indices) + 1)):
            shown = ", ".join(str(i) for i in indices)
            self.add(tloc, f"indices must be consecutive from 1; found {shown}")
            ok = False
        return tuple(sorted(entries, key=lambda e: e.index)) if ok else None

    def entry(self, raw: dict[str, Any], table: TableName, loc: Loc) -> Entry | None:
        ok = True
        for key in raw:
            if key not in _ENTRY_KEYS:
                self.add((*loc, key), f"unknown key; an entry has {', '.join(_ENTRY_KEYS)}")
                ok = False
        for key in _ENTRY_REQUIRED:
            if key not in raw:
                hint = _XML_TYPE_HINT if self.xml and key == "type" else ""
                self.add((*loc, key), "required key missing" + hint)
                ok = False
        index = raw.get("index")
        if index is not None and (
            not isinstance(index, int) or isinstance(index, bool) or index < 1
        ):
            self.add((*loc, "index"), "must be an integer >= 1", index)
            ok = False
        for key in ("device", "type", "signal"):
            value = raw.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                self.add((*loc, key), "must be a non-empty string", value)
                ok = False
        value = raw.get("value")
        if value is not None and (not _is_number(value) or not math.isfinite(value)):
            self.add((*loc, "value"), "must be a finite number (the cell's initial value)", value)
            ok = False
        if not ok:
            return None
        entry = Entry(
            index=raw["index"],
            device=raw["device"],
            type=raw["type"],
            signal=raw["signal"],
            value=None if value is None else float(value),
        )
        return entry if self.meaning(entry, table, loc) else None

    def meaning(self, entry: Entry, table: TableName, loc: Loc) -> bool:
        """The type exists, has the signal, and the device has no other type; initial
        values of one cell agree."""
        ok = True
        kind = self._types.get(entry.type)
        if kind is None:
            known = ", ".join(sorted(self._types))
            self.add((*loc, "type"), f"unknown device type; known: {known}", entry.type)
            ok = False
        else:
            signals = kind.states + kind.optional_states if table == "states" else kind.commands
            if entry.signal not in signals:
                what = "state" if table == "states" else "command"
                has = ", ".join(signals) or "none"
                self.add(
                    (*loc, "signal"),
                    f"device type {kind.name} has no {what} {entry.signal!r} ({table}: {has})",
                    entry.signal,
                )
                ok = False
        seen = self._device_types.setdefault(entry.device, (entry.type, loc))
        if seen[0] != entry.type:
            self.add(
                (*loc, "type"),
                f"device {entry.device!r} is a {seen[0]} at {format_path(seen[1])}; "
                "one device name has one type",
                entry.type,
            )
            ok = False
        if entry.value is not None:
            first = self._initial.setdefault((table, *entry.key), (entry.value, loc))
            if first[0] != entry.value:
                self.add(
                    (*loc, "value"),
                    f"conflicts with the initial value {first[0]} of the same cell at "
                    f"{format_path(first[1])}",
                    entry.value,
                )
                ok = False
        return ok

    def across(self, listed: list[dict[str, Any]], default_host: str) -> None:
        """Two adapters with one name, or listening on one port (checked on every adapter
        whose name or port is readable, even when its tables have errors)."""
        names: dict[str, int] = {}
        ports: list[tuple[str, int, int]] = []
        for i, body in enumerate(listed):
            name, port, host = body.get("name"), body.get("port"), body.get("host", default_host)
            if isinstance(name, str):
                if name in names:
                    self.add(
                        ("adapters", i, "name"),
                        f"two adapters share this name (also adapters[{names[name]}])",
                        name,
                    )
                else:
                    names[name] = i
            if not isinstance(port, int) or isinstance(port, bool) or port == 0:
                continue
            host = host if isinstance(host, str) else default_host
            for other_host, other_port, j in ports:
                clash = other_host == host or other_host in _WILDCARDS or host in _WILDCARDS
                if other_port == port and clash:
                    self.add(
                        ("adapters", i, "port"),
                        f"two adapters listen on the same port (also adapters[{j}])",
                        port,
                    )
                    break
            ports.append((host, port, i))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_name(value: object) -> bool:
    return (
        isinstance(value, str) and bool(value) and all(ch.isalnum() or ch in "-_." for ch in value)
    )
