"""FREEDM adapters as ``[[rtds]]`` tables, and what cannot be carried over (pure).

An rtds adapter is carried entry for entry: each entry's index is its float's place in the
packet, so an adapter is carried whole or not at all — leaving out one entry (a device type
or a signal this project does not have) would shift every float after it, and the device
server would still send and expect the whole packet. Such an adapter is reported, entry by
entry, and left out. The carried adapters are then put through the site's own adapter checks
(:func:`config.rtds.problems`, the rules of FREEDM's loader), so what is written loads.
Other adapter types (plug-and-play, fake, MQTT, OpenDSS) have no equivalent and are reported.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from config import rtds
from config.device_types import DeviceType
from config.freedm.plan import DevicePlan
from config.freedm.sources import Note
from config.freedm.xmlfiles import Entry, FreedmAdapter, FreedmType

#: Why an adapter of a type other than rtds is not carried over.
NOT_CARRIED = {
    "pnp": "plug-and-play adapters (devices that connect to the DGI) have no equivalent here",
    "fake": "a fake adapter's devices are left out: write them by hand with transport = "
    '"fake", a profile and values',
    "mqtt": "MQTT adapters have no equivalent here (FREEDM's factory never starts them either)",
    "opendss": "OpenDSS adapters have no equivalent here (they feed Volt-Var control only)",
}


def name_for(text: str) -> str:
    """``text`` as a site name: letters, digits, ``-``, ``_`` and ``.``; others become ``-``."""
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in text)
    return cleaned or "unnamed"


class AdapterImport:
    """Turn ``adapter.xml``'s adapters into ``[[rtds]]`` tables and their devices."""

    def __init__(
        self,
        file: str,
        kinds: Mapping[str, DeviceType],
        freedm_types: Mapping[str, FreedmType] | None,
        delay_ms: float,
        timeout_ms: float,
    ) -> None:
        self.file = file
        self.kinds = kinds
        self.freedm_types = freedm_types
        self.delay_ms = delay_ms
        self.timeout_ms = timeout_ms
        self.notes: list[Note] = []
        self._ids: dict[str, str] = {}  # FREEDM device name -> device id

    def run(self, adapters: list[FreedmAdapter]) -> tuple[list[rtds.RtdsAdapter], list[DevicePlan]]:
        candidates: list[tuple[FreedmAdapter, rtds.RtdsAdapter, list[DevicePlan]]] = []
        for adapter in adapters:
            if adapter.type != rtds.RTDS:
                why = NOT_CARRIED.get(adapter.type, "not an adapter type FREEDM or this site has")
                count = f"{adapter.entries} entr{'y' if adapter.entries == 1 else 'ies'}"
                what = f"adapter {adapter.name} (type {adapter.type}, {count})"
                self.notes.append(Note(self.file, adapter.line, what, why))
                continue
            built = self._build(adapter)
            if built is not None:
                candidates.append((adapter, *built))
        return self._checked(candidates)

    def _note(self, line: int, entry: str, why: str) -> None:
        self.notes.append(Note(self.file, line, entry, why))

    def _build(self, adapter: FreedmAdapter) -> tuple[rtds.RtdsAdapter, list[DevicePlan]] | None:
        """The adapter as an ``[[rtds]]`` table, or None (noted) when an entry cannot be kept."""
        types: dict[str, tuple[str, int]] = {}
        fine = True
        for table, entries in (("states", adapter.states), ("commands", adapter.commands)):
            for entry in entries:
                fine &= self._entry_fits(adapter, table, entry, types)
        if not fine:
            self._note(
                adapter.line,
                f"adapter {adapter.name}",
                f"left out: its packets ({len(adapter.states)} states, "
                f"{len(adapter.commands)} commands) cannot keep their layout without the "
                "entries noted; its devices are left out",
            )
            return None
        name = name_for(adapter.name)
        devices = [
            DevicePlan(self._id(device), kind, name, device) for device, (kind, _) in types.items()
        ]
        try:
            carried = rtds.RtdsAdapter(
                name=name,
                host=adapter.host or "",
                port=adapter.port or 0,
                delay_ms=self.delay_ms,
                timeout_ms=self.timeout_ms,
                states=[self._row(e) for e in adapter.states],
                commands=[self._row(e) for e in adapter.commands],
            )
        except ValidationError as exc:
            why = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            self._note(adapter.line, f"adapter {adapter.name}", f"left out: {why}")
            return None
        return carried, devices

    def _entry_fits(
        self, adapter: FreedmAdapter, table: str, entry: Entry, types: dict[str, tuple[str, int]]
    ) -> bool:
        where = f"adapter {adapter.name} {table[:-1]} {entry.index} ({entry.device} {entry.signal})"
        if self.freedm_types is not None:
            self._freedm_side(where, table, entry)
        first = types.setdefault(entry.device, (entry.type, entry.line))
        if first[0] != entry.type:
            why = f"{entry.device} is a {entry.type} here and a {first[0]} on line {first[1]}"
            self._note(entry.line, where, why)
            return False
        kind = self.kinds.get(entry.type)
        if kind is None:
            known = ", ".join(sorted(self.kinds))
            self._note(entry.line, where, f"no device type {entry.type} here (types: {known})")
            return False
        allowed = kind.states + kind.optional_states if table == "states" else kind.commands
        if entry.signal not in allowed:
            shown = ", ".join(allowed) or "none"
            why = f"no device type here has this: a {kind.name} has {table} {shown}"
            self._note(entry.line, where, why)
            return False
        return True

    def _freedm_side(self, where: str, table: str, entry: Entry) -> None:
        """What FREEDM's own loader would refuse, against the device file (noted only)."""
        assert self.freedm_types is not None
        freedm = self.freedm_types.get(entry.type)
        signals = () if freedm is None else getattr(freedm, table)
        if freedm is None:
            self._note(entry.line, where, f"device type {entry.type} is not in the device file")
        elif entry.signal not in signals:
            shown = ", ".join(signals) or "none"
            why = f"the device file's {entry.type} has no such {table[:-1]} either ({shown})"
            self._note(entry.line, where, why)

    def _id(self, device: str) -> str:
        """A device id for a FREEDM device name, unique in the site."""
        if device not in self._ids:
            base = name_for(device)
            taken = set(self._ids.values())
            found = base
            n = 2
            while found in taken:
                found, n = f"{base}-{n}", n + 1
            self._ids[device] = found
        return self._ids[device]

    def _row(self, entry: Entry) -> rtds.RtdsEntry:
        return rtds.RtdsEntry(index=entry.index, device=self._id(entry.device), signal=entry.signal)

    def _checked(
        self, candidates: list[tuple[FreedmAdapter, rtds.RtdsAdapter, list[DevicePlan]]]
    ) -> tuple[list[rtds.RtdsAdapter], list[DevicePlan]]:
        """Drop every adapter the site's checks refuse (noting why) until none is refused."""
        while True:
            tables = [table for _, table, _ in candidates]
            first: dict[str, tuple[int, DevicePlan]] = {}  # a device is its first adapter's
            for a, (_, _, plans) in enumerate(candidates):
                for plan in plans:
                    first.setdefault(plan.id, (a, plan))
            devices = [
                rtds.RtdsDevice(d.id, d.type, rtds.RTDS, d.adapter, ("rtds", a))
                for a, d in first.values()
            ]
            refused: dict[int, list[str]] = {}
            for loc, rule, _ in rtds.problems(tables, devices, self.kinds):
                refused.setdefault(int(loc[1]), []).append(rule)
            if not refused:
                return tables, [d for _, d in first.values()]
            for a, rules in refused.items():
                adapter = candidates[a][0]
                why = "left out: " + "; ".join(dict.fromkeys(rules))
                self._note(adapter.line, f"adapter {adapter.name}", why)
            candidates = [c for a, c in enumerate(candidates) if a not in refused]
