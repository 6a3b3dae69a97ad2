"""Register-map profiles: one TOML file per device model, shared by drivers and simulators.

A profile maps the signals of one device type (``Sst``, ``Desd``, ...) to Modbus points. Each
point's *role* follows from the device type: a signal that is only a state is read, one that
is only a command is written. For a signal that is both (``gateway``, ``storage``) the point
says ``role = "state"`` or ``role = "command"``; without it, access ``r`` makes the point the
state, ``w`` the command and ``rw`` both (one register written as the setpoint and read back
as the measurement). A readable setpoint register next to a measurement is therefore
``access = "rw", role = "command"``.

Loading never stops at the first problem: :func:`load_profile` returns every issue found.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, ValidationError

from config.device_types import DeviceType, device_types
from config.errors import ConfigIssue, display_path, format_path
from config.schema import Model, Name, in_range, issues_from
from config.tomlfile import locate, read_toml

Table = Literal["holding", "input", "coil", "discrete_input"]
ValueType = Literal["int16", "uint16", "int32", "uint32", "float32", "float64", "bool"]
Access = Literal["r", "w", "rw"]
WordOrder = Literal["ABCD", "CDAB", "BADC", "DCBA"]
Role = Literal["state", "command"]

#: Registers (16-bit words) taken by each value type; bool is one bit or one register.
REGISTER_COUNT: dict[str, int] = {
    "int16": 1,
    "uint16": 1,
    "int32": 2,
    "uint32": 2,
    "float32": 2,
    "float64": 4,
    "bool": 1,
}
BIT_TABLES = frozenset({"coil", "discrete_input"})
READ_ONLY_TABLES = frozenset({"input", "discrete_input"})
FIRST_ADDRESS = {"offset": 0, "offset_plus": 1}


class PointEntry(Model):
    """One ``[[point]]`` row as written in a profile file."""

    name: Name
    signal: str | None = None
    table: Table
    address: int
    type: ValueType
    access: Access = "r"
    role: Role | None = None
    word_order: WordOrder | None = None
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0
    min: float | None = None
    max: float | None = None
    failsafe: float | None = None
    description: str = ""


class ProfileHeader(Model):
    name: Name
    device_type: str
    addressing: Literal["offset", "offset_plus"] = "offset"
    word_order: WordOrder = "ABCD"
    max_gap: Annotated[int, AfterValidator(in_range(0, 125))] = 8
    description: str = ""


class ProfileDocument(Model):
    profile: ProfileHeader
    point: list[PointEntry]


@dataclass(frozen=True)
class Registers:
    """Where a Modbus point lives: its table, PDU address (0-based) and word order."""

    table: Table
    address: int
    word_order: WordOrder = "ABCD"

    def describe(self, count: int) -> str:
        """``holding[100..101]``."""
        if count == 1:
            return f"{self.table}[{self.address}]"
        return f"{self.table}[{self.address}..{self.address + count - 1}]"


@dataclass(frozen=True)
class Slot:
    """Where a point of a transport without registers lives: a place in that transport's own
    table (an rtds adapter's ``states`` or ``commands`` packet and the float's index there;
    ``index`` None: the transport names the value, as OCPP does)."""

    transport: str
    table: str
    index: int | None = None

    def describe(self, count: int) -> str:
        """``rtds sst1 states[3]``."""
        return self.table if self.index is None else f"{self.table}[{self.index}]"


#: Where a point lives, whatever carries it; only a register driver looks inside.
Location = Registers | Slot


@dataclass(frozen=True)
class Point:
    """A resolved point: what it means (signal, roles, type, unit, limits, failsafe) and where
    it lives (:attr:`location`: registers for Modbus, a slot for other transports)."""

    name: str
    signal: str
    location: Location
    type: ValueType
    access: Access
    unit: str
    scale: float
    offset: float
    min: float | None
    max: float | None
    failsafe: float | None
    roles: frozenset[Role]
    description: str = ""
    #: Another point of the profile holding a power-of-ten exponent (a SunSpec ``*_SF``):
    #: engineering value = raw × scale × 10^exponent + offset.
    scale_factor: str | None = None
    #: A value the device always reports (SunSpec marker, model headers, the simulator's
    #: scale factors); the simulator serves it, the driver reads it as any other point.
    fixed: float | None = None

    @property
    def registers(self) -> Registers:
        """The point's registers; ``TypeError`` for a point of a transport without them."""
        if not isinstance(self.location, Registers):
            raise TypeError(f"point {self.name} has no registers ({self.span()})")
        return self.location

    @property
    def table(self) -> Table:
        return self.registers.table

    @property
    def address(self) -> int:
        return self.registers.address

    @property
    def word_order(self) -> WordOrder:
        return self.registers.word_order

    @property
    def count(self) -> int:
        """Registers (or bits) the point occupies (1 for a slot)."""
        location = self.location
        if isinstance(location, Slot) or location.table in BIT_TABLES:
            return 1
        return REGISTER_COUNT[self.type]

    @property
    def last_address(self) -> int:
        return self.address + self.count - 1

    @property
    def readable(self) -> bool:
        return "r" in self.access

    @property
    def writable(self) -> bool:
        return "w" in self.access

    @property
    def is_state(self) -> bool:
        return "state" in self.roles

    @property
    def is_command(self) -> bool:
        return "command" in self.roles

    def span(self) -> str:
        """Where the point lives, for messages: ``holding[100..101]``, ``rtds sst1 states[3]``."""
        return self.location.describe(self.count)


@dataclass(frozen=True)
class Profile:
    """A resolved register map for one device model."""

    name: str
    device_type: str
    max_gap: int
    points: tuple[Point, ...]
    source: str
    addressing: str = "offset"
    description: str = ""

    def point(self, name: str) -> Point:
        for point in self.points:
            if point.name == name:
                return point
        raise KeyError(f"profile {self.name} has no point {name!r}")

    def state_point(self, signal: str) -> Point | None:
        return next((p for p in self.points if p.signal == signal and p.is_state), None)

    def command_point(self, signal: str) -> Point | None:
        return next((p for p in self.points if p.signal == signal and p.is_command), None)


def in_slots(profile: Profile, transport: str, places: Mapping[str, str]) -> Profile:
    """``profile`` with each point located in ``transport``'s own terms (``places`` by signal:
    ``"MeterValues"``) instead of the registers its file gives (a profile file needs them)."""
    points = tuple(
        dataclasses.replace(
            p, location=Slot(transport, f"{transport} {places.get(p.signal, p.signal)}")
        )
        for p in profile.points
    )
    return dataclasses.replace(profile, points=points)


def roles_for(point: PointEntry, kind: DeviceType | None) -> frozenset[Role]:
    """The roles a point plays for its device type (see the module docstring)."""
    signal = point.signal or point.name
    if kind is None:
        return frozenset()
    is_state = signal in kind.states or signal in kind.optional_states
    is_command = signal in kind.commands
    if point.role is not None:
        return (
            frozenset({point.role})
            if {"state": is_state, "command": is_command}[point.role]
            else frozenset()
        )
    if is_state and is_command:
        by_access: dict[str, frozenset[Role]] = {
            "r": frozenset({"state"}),
            "w": frozenset({"command"}),
            "rw": frozenset({"state", "command"}),
        }
        return by_access[point.access]
    if is_state:
        return frozenset({"state"})
    if is_command:
        return frozenset({"command"})
    return frozenset()


def load_profile(path: Path) -> tuple[Profile | None, list[ConfigIssue]]:
    """Read and check one profile file; return the profile (if valid) and every issue."""
    shown = display_path(path)
    raw, text, issues = read_toml(path)
    if raw is None:
        return None, issues
    try:
        document = ProfileDocument.model_validate(raw)
    except ValidationError as exc:
        return None, issues_from(exc, model=ProfileDocument, file=shown, text=text)
    found = list(_check(document, shown, text))
    if found:
        return None, found
    return _resolve(document, shown), []


def _resolve(document: ProfileDocument, source: str) -> Profile:
    header = document.profile
    kind = device_types()[header.device_type]
    base = FIRST_ADDRESS[header.addressing]
    points = tuple(
        Point(
            name=entry.name,
            signal=entry.signal or entry.name,
            location=Registers(
                entry.table, entry.address - base, entry.word_order or header.word_order
            ),
            type=entry.type,
            access=entry.access,
            unit=entry.unit,
            scale=entry.scale,
            offset=entry.offset,
            min=entry.min,
            max=entry.max,
            failsafe=entry.failsafe,
            roles=roles_for(entry, kind),
            description=entry.description,
        )
        for entry in document.point
    )
    return Profile(
        name=header.name,
        device_type=header.device_type,
        max_gap=header.max_gap,
        points=points,
        source=source,
        addressing=header.addressing,
        description=header.description,
    )


def _check(document: ProfileDocument, file: str, text: str) -> Iterator[ConfigIssue]:
    def issue(loc: tuple[str | int, ...], rule: str, value: object = None) -> ConfigIssue:
        shown = {} if value is None else {"value": value}
        return ConfigIssue(file, format_path(loc), rule, line=locate(text, loc), **shown)

    header = document.profile
    kind = device_types().get(header.device_type)
    if kind is None:
        known = ", ".join(sorted(device_types()))
        yield issue(
            ("profile", "device_type"), f"unknown device type; known: {known}", header.device_type
        )
    for index, entry in enumerate(document.point):
        for field, rule, value in _point_problems(entry, kind, header.addressing):
            yield issue(("point", index, field), rule, value)
    yield from (issue(*row) for row in _layout_problems(document))
    if kind is not None:
        yield from (issue(*row) for row in _coverage_problems(document, kind))


def _point_problems(
    entry: PointEntry, kind: DeviceType | None, addressing: str
) -> Iterator[tuple[str, str, object]]:
    """Rules for one point on its own: (field, rule, value) rows."""
    first = FIRST_ADDRESS[addressing]
    last = 65535 + first
    count = 1 if entry.table in BIT_TABLES else REGISTER_COUNT[entry.type]
    signal = entry.signal or entry.name
    if not first <= entry.address <= last:
        yield "address", f"must be {first}..{last}", entry.address
    elif entry.address + count - 1 > last:
        yield (
            "address",
            f"{entry.type} needs {count} registers from {entry.address}: "
            f"past the last address {last}",
            entry.address,
        )
    if entry.table in BIT_TABLES and entry.type != "bool":
        yield "type", f"table {entry.table} holds bool points only", entry.type
    if entry.word_order is not None and count == 1:
        yield (
            "word_order",
            f"word order applies to 32- and 64-bit types; {entry.type} is one register",
            entry.word_order,
        )
    if entry.table in READ_ONLY_TABLES and entry.access != "r":
        yield "access", f"table {entry.table} is read-only: access must be 'r'", entry.access
    yield from _limit_problems(entry)
    if entry.scale == 0:
        yield "scale", "must not be 0", entry.scale
    if kind is not None and signal not in kind.signals:
        known = ", ".join(sorted(kind.signals))
        yield (
            "signal" if entry.signal else "name",
            (f"device type {kind.name} has no signal {signal!r}; its signals: {known}"),
            signal,
        )
    elif kind is not None:
        yield from _role_problems(entry, kind, signal)


def _role_problems(
    entry: PointEntry, kind: DeviceType, signal: str
) -> Iterator[tuple[str, str, object]]:
    is_state = signal in kind.states or signal in kind.optional_states
    is_command = signal in kind.commands
    if entry.role == "state" and not is_state:
        yield "role", f"{signal!r} is not a state of {kind.name}", entry.role
    elif entry.role == "command" and not is_command:
        yield "role", f"{signal!r} is not a command of {kind.name}", entry.role
    elif is_command and (entry.role == "command" or not is_state) and entry.access == "r":
        yield "access", f"the command {signal!r} of {kind.name} needs access 'w' or 'rw'", "r"
    elif entry.role == "state" and entry.access == "w":
        yield "access", f"the state {signal!r} of {kind.name} needs access 'r' or 'rw'", "w"


def _limit_problems(entry: PointEntry) -> Iterator[tuple[str, str, object]]:
    writable = "w" in entry.access
    if writable and entry.type != "bool" and (entry.min is None or entry.max is None):
        missing = "min" if entry.min is None else "max"
        yield missing, "a writable point needs min and max", None
    if entry.min is not None and entry.max is not None and entry.min > entry.max:
        yield "min", f"must be <= max ({entry.max})", entry.min
    if entry.failsafe is not None:
        if not writable:
            yield "failsafe", "only a writable point can have a failsafe value", entry.failsafe
        low = entry.min if entry.min is not None else float("-inf")
        high = entry.max if entry.max is not None else float("inf")
        if not low <= entry.failsafe <= high:
            yield "failsafe", f"must be within min..max ({entry.min}..{entry.max})", entry.failsafe


def _layout_problems(
    document: ProfileDocument,
) -> Iterator[tuple[tuple[str | int, ...], str, object]]:
    """Duplicate names and overlapping registers within one table."""
    names: dict[str, int] = {}
    for index, entry in enumerate(document.point):
        if entry.name in names:
            yield (
                ("point", index, "name"),
                f"duplicate point name (also point[{names[entry.name]}])",
                entry.name,
            )
        names.setdefault(entry.name, index)
    taken: dict[tuple[str, int], int] = {}
    for index, entry in enumerate(document.point):
        count = 1 if entry.table in BIT_TABLES else REGISTER_COUNT[entry.type]
        for address in range(entry.address, entry.address + count):
            other = taken.get((entry.table, address))
            if other is not None:
                first = document.point[other]
                yield (
                    ("point", index, "address"),
                    f"overlaps point {first.name!r} at {entry.table}[{address}]",
                    entry.address,
                )
                break
        for address in range(entry.address, entry.address + count):
            taken.setdefault((entry.table, address), index)


def _coverage_problems(
    document: ProfileDocument, kind: DeviceType
) -> Iterator[tuple[tuple[str | int, ...], str, object]]:
    """Every state and command of the type is provided exactly once."""
    providers: dict[tuple[str, str], int] = {}
    for index, entry in enumerate(document.point):
        for role in sorted(roles_for(entry, kind)):
            key = (role, entry.signal or entry.name)
            if key in providers:
                yield (
                    ("point", index, "name"),
                    f"second point for {role} {key[1]!r} (first: point[{providers[key]}])",
                    entry.name,
                )
            providers.setdefault(key, index)
    needed = [("state", s) for s in kind.states] + [("command", c) for c in kind.commands]
    for needed_role, signal in needed:
        if (needed_role, signal) not in providers:
            yield (
                ("point",),
                f"device type {kind.name} needs a point for {needed_role} {signal!r}; "
                "none provides it",
                None,
            )
