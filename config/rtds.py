"""FREEDM's RTDS adapters in a site file: ``[[rtds]]`` tables and the devices they carry (pure).

An adapter is one TCP connection to a device server speaking FREEDM's float-array protocol
(``docs/hil.md``: the RTDS FPGA bridge, GTNET-SKT, the PSCAD simulation server): a **states**
table the controller reads and a **commands** table it writes, each entry an index ``1..N``
(its float's place in the packet), a device id and a signal. A device served this way has
``transport = "rtds"`` and ``adapter = NAME``; it needs no register-map profile (one is made
from its device type: :func:`rtds_profile`). :func:`problems` lists every defect the original
adapter loader refused (HIL.md §4), each with where it is and the rule.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import AfterValidator

from config.addresses import valid_host
from config.device_types import DeviceType
from config.profile import Point, Profile, Slot
from config.schema import Model, Name, Positive, in_range

RTDS = "rtds"
#: FREEDM's defaults: DEV_RTDS_DELAY between cycles, DEV_SOCKET_TIMEOUT per read or write.
DELAY_MS = 50.0
TIMEOUT_MS = 1000.0

Loc = tuple[str | int, ...]


class RtdsEntry(Model):
    """One entry of a states or commands table: ``{index = 1, device = "sst1-gateway",
    signal = "gateway"}``."""

    index: Annotated[int, AfterValidator(in_range(1, 100_000))]
    device: Name
    signal: Name


class RtdsAdapter(Model):
    """One ``[[rtds]]`` table."""

    name: Name
    host: Annotated[str, AfterValidator(valid_host)] = "127.0.0.1"
    port: Annotated[int, AfterValidator(in_range(1, 65535))]
    delay_ms: Positive = DELAY_MS
    timeout_ms: Positive = TIMEOUT_MS
    states: list[RtdsEntry]
    commands: list[RtdsEntry]


@dataclass(frozen=True)
class RtdsDevice:
    """What :func:`problems` needs of a device: its id, type, transport and adapter."""

    id: str
    type: str
    transport: str
    adapter: str | None
    loc: Loc


def problems(
    adapters: Sequence[RtdsAdapter],
    devices: Sequence[RtdsDevice],
    kinds: Mapping[str, DeviceType],
) -> Iterator[tuple[Loc, str, object]]:
    """Every defect of the adapters and the rtds devices: (where, rule, value)."""
    names: dict[str, int] = {}
    endpoints: dict[tuple[str, int], int] = {}
    for a, adapter in enumerate(adapters):
        loc: Loc = ("rtds", a)
        if adapter.name in names:
            yield (
                (*loc, "name"),
                f"two adapters named {adapter.name} (also rtds[{names[adapter.name]}])",
                adapter.name,
            )
        names.setdefault(adapter.name, a)
        where = (adapter.host, adapter.port)
        if where in endpoints:
            yield (
                loc,
                f"host:port {adapter.host}:{adapter.port} is also rtds[{endpoints[where]}]'s",
                adapter.name,
            )
        endpoints.setdefault(where, a)
    by_id = {d.id: d for d in devices}
    carried: dict[str, str] = {}  # device -> the adapter whose tables name it
    for a, adapter in enumerate(adapters):
        for table in ("states", "commands"):
            yield from _table(("rtds", a, table), adapter, table, by_id, kinds, carried)
    for device in devices:
        yield from _device(device, names, adapters, kinds)


def _table(
    loc: Loc,
    adapter: RtdsAdapter,
    table: str,
    by_id: Mapping[str, RtdsDevice],
    kinds: Mapping[str, DeviceType],
    carried: dict[str, str],
) -> Iterator[tuple[Loc, str, object]]:
    entries: list[RtdsEntry] = getattr(adapter, table)
    indices = sorted(e.index for e in entries)
    seen_index: set[int] = set()
    seen_pair: set[tuple[str, str]] = set()
    for e, entry in enumerate(entries):
        here: Loc = (*loc, e)
        if entry.index in seen_index:
            yield (
                (*here, "index"),
                f"index {entry.index} twice in {adapter.name}'s {table}",
                entry.index,
            )
        seen_index.add(entry.index)
        pair = (entry.device, entry.signal)
        if pair in seen_pair:
            yield (
                here,
                f"{entry.device} {entry.signal} twice in {adapter.name}'s {table}",
                entry.device,
            )
        seen_pair.add(pair)
        device = by_id.get(entry.device)
        if device is None or device.transport != RTDS:
            what = "no device of the site" if device is None else f"transport {device.transport}"
            yield (
                (*here, "device"),
                f"{entry.device} is {what}: an rtds table names devices with transport rtds",
                entry.device,
            )
            continue
        if device.adapter is not None and device.adapter != adapter.name:
            yield (
                (*here, "device"),
                f"{entry.device} has adapter = {device.adapter!r}, not {adapter.name!r}",
                entry.device,
            )
        other = carried.setdefault(entry.device, adapter.name)
        if other != adapter.name:
            yield (
                (*here, "device"),
                f"{entry.device} is in two adapters ({other} and {adapter.name})",
                entry.device,
            )
        kind = kinds.get(device.type)
        if kind is None:
            continue  # the device's own entry reports an unknown type
        allowed = kind.states + kind.optional_states if table == "states" else kind.commands
        if entry.signal not in allowed:
            shown = ", ".join(allowed) or "none"
            yield (
                (*here, "signal"),
                f"a {device.type} has no {table[:-1]} {entry.signal!r} ({table}: {shown})",
                entry.signal,
            )
    if (
        indices
        and indices != list(range(1, len(indices) + 1))
        and len(set(indices)) == len(indices)
    ):
        yield (
            loc,
            f"{adapter.name}'s {table} indices must run 1..{len(indices)} without gaps "
            f"(they are {_ranges(indices)})",
            None,
        )


def _device(
    device: RtdsDevice,
    names: Mapping[str, int],
    adapters: Sequence[RtdsAdapter],
    kinds: Mapping[str, DeviceType],
) -> Iterator[tuple[Loc, str, object]]:
    if device.transport != RTDS:
        if device.adapter is not None:
            yield (*device.loc, "adapter"), "for transport rtds only", device.adapter
        return
    if device.adapter is None:
        yield (
            (*device.loc, "adapter"),
            "required for transport rtds: the [[rtds]] adapter that carries it",
            None,
        )
        return
    if device.adapter not in names:
        known = ", ".join(names) or "none"
        yield (
            (*device.loc, "adapter"),
            f"no [[rtds]] adapter named {device.adapter} (adapters: {known})",
            device.adapter,
        )
        return
    kind = kinds.get(device.type)
    if kind is None:
        return
    adapter = adapters[names[device.adapter]]
    for table, needed in (("states", kind.states), ("commands", kind.commands)):
        have = {e.signal for e in getattr(adapter, table) if e.device == device.id}
        missing = [s for s in needed if s not in have]
        if missing:
            yield (
                (*device.loc, "adapter"),
                f"{device.id} ({device.type}) needs {', '.join(missing)} in "
                f"{device.adapter}'s {table}",
                device.adapter,
            )


def _ranges(values: list[int]) -> str:
    return ", ".join(str(v) for v in values[:8]) + (", ..." if len(values) > 8 else "")


def rtds_profile(kind: DeviceType, adapter: RtdsAdapter | None = None, device: str = "") -> Profile:
    """The points of ``device`` carried by ``adapter``: its type's states (read) — the optional
    ones the adapter's states table carries — and commands (written), float32 each, located by
    their index in the adapter's tables (no adapter yet: unplaced, the mandatory states only);
    no failsafe value (released, the device holds its last command)."""

    def place(table: str, signal: str) -> Slot:
        if adapter is None:
            return Slot(RTDS, f"rtds {table}")
        entries = adapter.states if table == "states" else adapter.commands
        index = next((e.index for e in entries if e.device == device and e.signal == signal), None)
        return Slot(RTDS, f"rtds {adapter.name} {table}", index)

    carried = {e.signal for e in adapter.states if e.device == device} if adapter else set()
    points = []
    for signal in kind.states + tuple(s for s in kind.optional_states if s in carried):
        points.append(_point(signal, signal, place("states", signal), "r", "state"))
    for signal in kind.commands:
        name = f"{signal}_command" if signal in kind.states + kind.optional_states else signal
        points.append(_point(name, signal, place("commands", signal), "w", "command"))
    return Profile(
        name=f"rtds-{kind.name.lower()}",
        device_type=kind.name,
        max_gap=0,
        points=tuple(points),
        source="rtds",
        description=f"{kind.name} over an RTDS adapter (FREEDM's float-array socket)",
    )


def _point(name: str, signal: str, location: Slot, access: str, role: str) -> Point:
    return Point(
        name=name,
        signal=signal,
        location=location,
        type="float32",
        access=access,  # type: ignore[arg-type]
        unit="",
        scale=1.0,
        offset=0.0,
        min=None,
        max=None,
        failsafe=None,
        roles=frozenset({role}),  # type: ignore[arg-type]
    )
