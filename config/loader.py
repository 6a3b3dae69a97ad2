"""Load a site file: shape (pydantic), then cross-checks; every problem is reported at once.

>>> site = load_site(Path("config/examples/three-substations.toml"))   # doctest: +SKIP

raises :class:`ConfigError` listing each problem as
``site.toml:42: nodes[1].devices[2].address = 70000: must be 0..65535``.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config import rtds, sunspec
from config.addresses import Endpoint
from config.device_types import device_types
from config.errors import ConfigError, ConfigIssue, display_path, format_path
from config.files import special_file_problem
from config.grid import grid_problems
from config.profile import Profile, in_slots, load_profile
from config.schema import issues_from
from config.settings import SiteHeader
from config.simulation import MODBUS_KEYS, OCPP_KEYS, SIM_SCHEMAS, DeviceSim, Series
from config.site import (
    OCPP,
    OCPP_PROFILE,
    SIMULATED,
    Device,
    DeviceEntry,
    NodeEntry,
    Site,
    SiteDocument,
)
from config.timings import (
    Timings,
    TimingsSettings,
    read_freedm_timings,
    resolve_timings,
    timing_problems,
)
from config.tomlfile import locate, read_toml
from config.topology import (
    DATAGRAM_BYTES,
    Topology,
    collected_bytes,
    groups_too_large,
    read_topology,
)

PROFILE_DIR = Path(__file__).with_name("profiles")
#: Where an OCPP charge point's signals come from and go to, for messages and the points list.
OCPP_PLACES = {
    "power": "MeterValues",
    "connected": "StatusNotification",
    "power_limit": "SetChargingProfile",
}

Loc = tuple[str | int, ...]


def load_site(path: Path | str) -> Site:
    """Load and check a site file; raise :class:`ConfigError` with every issue found."""
    site_path = Path(path)
    raw, text, issues = read_toml(site_path)
    if raw is None:
        raise ConfigError(issues)
    checker = _SiteChecker(site_path, text)
    site = checker.check(raw)
    if checker.issues or site is None:
        raise ConfigError(checker.issues)
    return site


def resolve_profile_path(reference: str, site_dir: Path) -> Path:
    """``"sst"`` → shipped ``config/profiles/sst.toml``; a path → relative to the site file."""
    if "/" not in reference and not reference.endswith(".toml"):
        return PROFILE_DIR / f"{reference}.toml"
    candidate = Path(reference)
    return candidate if candidate.is_absolute() else site_dir / candidate


@dataclass
class _SiteChecker:
    path: Path
    text: str
    issues: list[ConfigIssue] = field(default_factory=list)
    _profiles: dict[Path, Profile | None] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        return display_path(self.path)

    def add(self, loc: Loc, rule: str, *value: object) -> None:
        shown = {"value": value[0]} if value else {}
        self.issues.append(
            ConfigIssue(self.shown, format_path(loc), rule, line=locate(self.text, loc), **shown)
        )

    def check(self, raw: dict[str, Any]) -> Site | None:
        document: SiteDocument | None = None
        try:
            document = SiteDocument.model_validate(raw)
        except ValidationError as exc:
            self.issues += issues_from(exc, model=SiteDocument, file=self.shown, text=self.text)
        nodes = list(self._valid_nodes(raw))
        entries = list(self._valid_devices(raw))
        self._check_nodes(nodes)
        self._check_addresses(nodes, entries, _dict(raw.get("simulation")).get("control"))
        devices = self._check_devices(entries)
        devices = self._check_rtds(raw, entries, devices)
        timings_values = self._timings(raw)
        self._check_secret_files(raw)
        timings = self._resolved_timings(raw, timings_values)
        topology = self._topology(raw, nodes, entries)
        self._check_group_sizes([node.id for _, node in nodes], topology)
        if isinstance(raw.get("grid"), dict):
            node_ids = [node.id for _, node in nodes]
            for loc, rule, value in grid_problems(raw["grid"], node_ids, self.path.parent):
                self.add(loc, rule, value)
        if document is None or timings is None or self.issues:
            return None
        return Site(self.shown, document, tuple(devices), timings, topology)

    def _check_group_sizes(self, nodes: list[str], topology: Topology | None) -> None:
        for cell in groups_too_large(nodes, topology):
            where = f"{cell[0]} .. {cell[-1]}" if len(cell) > 1 else cell[0]
            self.add(
                ("nodes",),
                f"{len(cell)} nodes can form one group ({where}): its collected state (about "
                f"{collected_bytes(cell)} bytes) does not fit one datagram ({DATAGRAM_BYTES}), so "
                "it would never balance; split them into feeders with a topology_file "
                '(docs/simulator.md, "Scale by structure")',
            )

    def _resolved_timings(self, raw: dict[str, Any], from_file: dict[str, int]) -> Timings | None:
        """The timings in force (profile, file, keys) and what in them would break a node;
        checked even when other tables have errors, so every error is listed at once."""
        try:
            settings = TimingsSettings.model_validate(_dict(raw.get("timings")))
        except ValidationError:
            return None  # reported with the whole document
        timings = resolve_timings(settings, from_file)
        for key, rule in timing_problems(timings):
            self.add(("timings", key), rule, getattr(timings, key))
        return timings

    # -- pieces that validate on their own, so cross-checks run even when others do not ----------

    def _valid_nodes(self, raw: dict[str, Any]) -> Iterator[tuple[Loc, NodeEntry]]:
        for index, node in enumerate(_list(raw.get("nodes"))):
            try:
                yield ("nodes", index), NodeEntry.model_validate({**_dict(node), "devices": []})
            except ValidationError:
                continue

    def _valid_devices(self, raw: dict[str, Any]) -> Iterator[tuple[Loc, str, DeviceEntry]]:
        for n, node in enumerate(_list(raw.get("nodes"))):
            node_id = str(_dict(node).get("id", f"nodes[{n}]"))
            for d, device in enumerate(_list(_dict(node).get("devices"))):
                try:
                    yield ("nodes", n, "devices", d), node_id, DeviceEntry.model_validate(device)
                except ValidationError:
                    continue

    # -- cross-checks -----------------------------------------------------------------------------

    def _check_nodes(self, nodes: list[tuple[Loc, NodeEntry]]) -> None:
        ids: dict[str, Loc] = {}
        for loc, node in nodes:
            if node.id in ids:
                self.add(
                    (*loc, "id"), f"duplicate node id (also {format_path(ids[node.id])})", node.id
                )
            ids.setdefault(node.id, loc)

    def _check_addresses(
        self,
        nodes: list[tuple[Loc, NodeEntry]],
        entries: list[tuple[Loc, str, DeviceEntry]],
        control: object,
    ) -> None:
        """Every socket the site binds or names, compared as the kernel would: by protocol
        (API, the simulator's control and Modbus/TCP devices are TCP, peers UDP), after
        resolving ``localhost`` and wildcards. Devices behind one gateway share a host:port
        with different unit ids."""
        taken = _Claims()
        named = [
            ((*loc, key), getattr(node, key), protocol)
            for loc, node in nodes
            for key, protocol in (("api", "tcp"), ("peer", "udp"))
        ]
        if isinstance(control, str):
            named.append((("simulation", "control"), control, "tcp"))
        for where, text, protocol in named:
            host, _, port = text.rpartition(":")
            if not (host and port.isascii() and port.isdigit()):
                continue  # the schema reports it
            claim = Endpoint.of(protocol, host, int(port))
            other = taken.first_collision(claim, None)
            if other is not None:
                self.add(where, f"address already used by {format_path(other)}", text)
            taken.add(claim, None, where)
        # A serial port and a gateway connection belong to one node (each node's own links;
        # two nodes on two machines may both use /dev/ttyUSB0): their checks are per node.
        serial: dict[tuple[str, str, int], Loc] = {}
        buses: dict[tuple[str, str], tuple[Loc, DeviceEntry]] = {}  # first device on each port
        gateways: dict[tuple[str, str, int], tuple[Loc, DeviceEntry]] = {}  # ... host:port
        centrals: dict[str, tuple[Loc, DeviceEntry]] = {}  # node -> its first ocpp device
        for loc, node_id, entry in entries:
            if entry.transport == OCPP:
                self._check_central(loc, node_id, entry, centrals, taken)
                continue
            if entry.serial_port:
                line = (node_id, entry.serial_port, entry.unit)
                if line in serial:
                    used = f"serial port {entry.serial_port} unit {entry.unit}"
                    self.add(loc, f"{used} already used by {format_path(serial[line])}", entry.id)
                serial.setdefault(line, loc)
                first = buses.setdefault((node_id, entry.serial_port), (loc, entry))
                self._check_bus(loc, entry, *first)
                continue
            if not entry.port:  # port 0 means "any free port" and never collides
                continue
            host = entry.host or "127.0.0.1"
            first = gateways.setdefault((node_id, host.lower(), entry.port), (loc, entry))
            if entry.timeout_s != first[1].timeout_s:
                self.add(
                    (*loc, "timeout_s"),
                    f"{host}:{entry.port} is one connection: timeout_s must be the same as "
                    f"{format_path(first[0])}'s ({first[1].timeout_s})",
                    entry.timeout_s,
                )
            claim = Endpoint.of("tcp", host, entry.port)
            other = taken.first_collision(claim, entry.unit)
            if other is not None:
                used = f"host:port {host}:{entry.port} unit {entry.unit}"
                self.add(loc, f"{used} already used by {format_path(other)}", entry.id)
            taken.add(claim, entry.unit, loc)

    def _check_central(
        self,
        loc: Loc,
        node_id: str,
        entry: DeviceEntry,
        centrals: dict[str, tuple[Loc, DeviceEntry]],
        taken: _Claims,
    ) -> None:
        """The OCPP charge points of a node connect to one central system, which the node
        binds: the first one's host:port is claimed, the others must name the same."""
        if entry.host is None or not entry.port:
            return  # _check_transport reports it
        first_loc, first = centrals.setdefault(node_id, (loc, entry))
        if first_loc != loc:
            mine, theirs = f"{entry.host}:{entry.port}", f"{first.host}:{first.port}"
            if Endpoint.of("tcp", entry.host, entry.port) != Endpoint.of(
                "tcp", first.host or "", first.port or 0
            ):
                self.add(
                    loc,
                    f"the OCPP charge points of node {node_id} connect to one central system: "
                    f"host:port {mine} must be {theirs}, as {format_path(first_loc)}",
                    entry.id,
                )
            return
        claim = Endpoint.of("tcp", entry.host, entry.port)
        other = taken.first_collision(claim, None)
        if other is not None:
            where = f"OCPP central system {entry.host}:{entry.port}"
            self.add(loc, f"{where} already used by {format_path(other)}", entry.id)
        taken.add(claim, None, loc)

    def _check_bus(self, loc: Loc, entry: DeviceEntry, first_loc: Loc, first: DeviceEntry) -> None:
        """Devices on one serial port share one line: its settings are one."""
        for key in ("baudrate", "parity", "bytesize", "stopbits", "timeout_s"):
            if getattr(entry, key) != getattr(first, key):
                self.add(
                    (*loc, key),
                    f"serial port {entry.serial_port} is one line: {key} must be the same as "
                    f"{format_path(first_loc)}'s ({getattr(first, key)})",
                    getattr(entry, key),
                )

    def _check_devices(self, entries: list[tuple[Loc, str, DeviceEntry]]) -> list[Device]:
        ids: dict[str, Loc] = {}
        devices = []
        for loc, node_id, entry in entries:
            if entry.id in ids:
                self.add(
                    (*loc, "id"),
                    f"duplicate device id (also {format_path(ids[entry.id])})",
                    entry.id,
                )
            ids.setdefault(entry.id, loc)
            self._check_transport(loc, entry)
            device = self._device(loc, node_id, entry)
            if device is not None:
                devices.append(device)
        return devices

    def _check_rtds(
        self, raw: dict[str, Any], entries: list[tuple[Loc, str, DeviceEntry]],
        devices: list[Device],
    ) -> list[Device]:  # fmt: skip
        """The [[rtds]] adapters and their devices (config/rtds.py); each rtds device gets
        its adapter."""
        valid: list[rtds.RtdsAdapter] = []
        for table in _list(raw.get("rtds")):
            try:
                valid.append(rtds.RtdsAdapter.model_validate(table))
            except ValidationError:
                return devices  # reported with the whole document
        found = [rtds.RtdsDevice(e.id, e.type, e.transport, e.adapter, loc)
                 for loc, _, e in entries]  # fmt: skip
        for loc, rule, value in rtds.problems(valid, found, device_types()):
            self.add(loc, rule, *(() if value is None else (value,)))
        by_name = {a.name: a for a in valid}
        return [self._carried(d, by_name) for d in devices]

    @staticmethod
    def _carried(device: Device, adapters: dict[str, rtds.RtdsAdapter]) -> Device:
        """An rtds device with its adapter, and — its profile made from its type — the
        optional states its adapter's table carries."""
        adapter = adapters.get(device.entry.adapter or "")
        if device.entry.transport != rtds.RTDS or adapter is None:
            return device
        profile = device.profile
        kind = device_types().get(device.type)
        if device.entry.profile is None and kind is not None:
            profile = rtds.rtds_profile(kind, adapter, device.id)
        return dataclasses.replace(device, rtds=adapter, profile=profile)

    def _check_transport(self, loc: Loc, entry: DeviceEntry) -> None:
        transport = entry.transport
        if transport == OCPP:
            self._check_ocpp(loc, entry)
            return
        if transport == rtds.RTDS:
            for key in ("host", "port", "serial_port"):
                if getattr(entry, key) is not None:
                    rule = "not for transport rtds: the [[rtds]] adapter says where it is"
                    self.add((*loc, key), rule, getattr(entry, key))
            return
        if entry.profile is None:
            self.add((*loc, "profile"), f"required for transport {transport}")
        rtu_link = transport == "modbus_rtu" or (transport == "simulated" and entry.serial_port)
        if transport == "modbus_tcp" or (transport == "simulated" and not entry.serial_port):
            if transport == "modbus_tcp" and not entry.host:
                self.add((*loc, "host"), f"required for transport {transport}")
            if entry.port is None:
                self.add((*loc, "port"), f"required for transport {transport}")
            elif entry.port == 0 and transport != "simulated":
                self.add((*loc, "port"), "must be 1..65535", 0)
        if (
            transport == "simulated"
            and entry.serial_port
            and not (entry.sim or {}).get("serve_serial_port")
        ):
            self.add(
                (*loc, "sim", "serve_serial_port"),
                "required for a simulated RTU device: the serial port dgi simulate serves it on",
            )
        if rtu_link and not entry.serial_port:
            self.add((*loc, "serial_port"), "required for transport modbus_rtu")
        if transport == "modbus_tcp" and entry.serial_port:
            self.add(
                (*loc, "serial_port"),
                "a Modbus/TCP device has no serial port (use transport modbus_rtu)",
                entry.serial_port,
            )
        if rtu_link and (entry.host or entry.port is not None):
            key = "host" if entry.host else "port"
            self.add((*loc, key), "a serial (RTU) device has no host or port", getattr(entry, key))
        if transport == "fake":
            for key in ("host", "port", "serial_port"):
                if getattr(entry, key) is not None:
                    self.add((*loc, key), "a fake device has no address", getattr(entry, key))
        if entry.values and transport != "fake":
            self.add((*loc, "values"), "initial values are for transport 'fake' only")
        if entry.sim is not None and transport != SIMULATED:
            self.add((*loc, "sim"), "simulation parameters need transport 'simulated' or 'ocpp'")
        if entry.type == "Evse":
            for key in sorted(OCPP_KEYS & set(entry.sim or {})):
                rule = "for transport ocpp only (a simulated OCPP charge point)"
                self.add((*loc, "sim", key), rule)

    def _check_ocpp(self, loc: Loc, entry: DeviceEntry) -> None:
        """An OCPP charge point: an Evse that connects to its node's central system, which
        listens on ``host``:``port`` (the node binds it)."""
        if entry.type != "Evse":
            self.add(
                (*loc, "transport"),
                f"transport ocpp is for Evse devices (an OCPP charge point), not {entry.type}",
                OCPP,
            )
        if not entry.host:
            self.add((*loc, "host"), "required for transport ocpp: where the node listens")
        if entry.port is None:
            self.add((*loc, "port"), "required for transport ocpp: where the node listens")
        elif entry.port == 0:
            self.add((*loc, "port"), "must be 1..65535 (the charge point must know it)", 0)
        if entry.serial_port is not None:
            self.add((*loc, "serial_port"), "an OCPP charge point has no serial port",
                     entry.serial_port)  # fmt: skip
        if entry.values:
            self.add((*loc, "values"), "initial values are for transport 'fake' only")
        if entry.verify:
            self.add(
                (*loc, "verify"),
                "for Modbus: the charge point's answer to every profile is checked anyway",
                True,
            )
        for key in sorted(MODBUS_KEYS & set(entry.sim or {})):
            self.add(
                (*loc, "sim", key),
                "a simulated OCPP charge point is not served over Modbus",
            )

    def _device(self, loc: Loc, node_id: str, entry: DeviceEntry) -> Device | None:
        kind = device_types().get(entry.type)
        if kind is None:
            known = ", ".join(sorted(device_types()))
            self.add((*loc, "type"), f"unknown device type; known: {known}", entry.type)
        profile = self._profile(loc, entry)
        sim = self._sim(loc, entry) if kind is not None else None
        if kind is None or profile is None:
            return None
        if profile.device_type != entry.type:
            if entry.profile is not None:  # a defaulted one: the transport is what is wrong
                self.add(
                    (*loc, "profile"),
                    f"profile {profile.name!r} is for {profile.device_type} devices, "
                    f"not {entry.type}",
                    entry.profile,
                )
            return None
        names = {p.name for p in profile.points}
        for key in entry.values:
            if key not in names:
                self.add((*loc, "values", key), f"profile {profile.name!r} has no point {key!r}")
        return Device(node_id=node_id, entry=entry, profile=profile, sim=sim)

    def _profile(self, loc: Loc, entry: DeviceEntry) -> Profile | None:
        if entry.transport == rtds.RTDS and entry.profile is None:
            kind = device_types().get(entry.type)
            return rtds.rtds_profile(kind) if kind is not None else None
        reference = entry.profile or (OCPP_PROFILE if entry.transport == OCPP else None)
        if reference is None:
            return None  # _check_transport reports it
        profile = self._profile_at(loc, entry, reference)
        if entry.transport == OCPP and profile is not None:
            return in_slots(profile, "ocpp", OCPP_PLACES)
        return profile

    def _profile_at(self, loc: Loc, entry: DeviceEntry, reference: str) -> Profile | None:
        if reference.startswith(sunspec.PREFIX):
            try:
                return sunspec.sunspec_profile(reference)
            except sunspec.SunSpecError as exc:
                self.add((*loc, "profile"), str(exc), entry.profile)
                return None
        path = resolve_profile_path(reference, self.path.parent).resolve()
        if path not in self._profiles:
            if not path.is_file():
                self.add(
                    (*loc, "profile"),
                    f"profile file not found: {display_path(path)}",
                    entry.profile,
                )
                return None
            profile, issues = load_profile(path)
            self.issues += issues
            self._profiles[path] = profile
        return self._profiles[path]

    def _sim(self, loc: Loc, entry: DeviceEntry) -> DeviceSim | None:
        if entry.transport != SIMULATED and not (entry.transport == OCPP and entry.sim is not None):
            return None
        schema = SIM_SCHEMAS[entry.type]
        try:
            sim = schema.model_validate(entry.sim or {})
        except ValidationError as exc:
            self.issues += issues_from(
                exc, model=schema, file=self.shown, text=self.text, prefix=(*loc, "sim")
            )
            return None
        for key, value in sim:
            if isinstance(value, Series) and value.csv is not None:
                self._check_csv((*loc, "sim", key), value)
        return sim

    def _check_csv(self, loc: Loc, series: Series) -> None:
        assert series.csv is not None
        path = Path(series.csv)
        path = path if path.is_absolute() else self.path.parent / path
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                header = next(csv.reader(handle), [])
        except OSError:
            self.add((*loc, "csv"), f"CSV file not found: {display_path(path)}", series.csv)
            return
        for column in (series.time_column, series.column):
            if column is not None and column not in header:
                self.add(
                    (*loc, "csv"), f"CSV has no column {column!r}; columns: {', '.join(header)}"
                )

    def _check_secret_files(self, raw: dict[str, Any]) -> None:
        """The key and token files, when they exist, must be regular files. ``stat`` never
        blocks (opening a FIFO would), so a FIFO is refused here instead of hanging a node."""
        header = _dict(raw.get("site"))
        for key in ("key_file", "api_token_file"):
            name = header.get(key, SiteHeader.model_fields[key].default)
            if not isinstance(name, str):
                continue
            path = Path(name) if Path(name).is_absolute() else self.path.parent / name
            problem = special_file_problem(path)
            if problem is not None:
                self.add(("site", key), f"{display_path(path)} {problem}", name)

    def _topology(
        self,
        raw: dict[str, Any],
        nodes: list[tuple[Loc, NodeEntry]],
        entries: list[tuple[Loc, str, DeviceEntry]],
    ) -> Topology | None:
        """``[site] topology_file``, checked against the site's nodes and devices."""
        name = _dict(raw.get("site")).get("topology_file")
        if not isinstance(name, str):
            return None  # none, or the schema reports it
        where = ("site", "topology_file")
        election = _dict(raw.get("algorithm")).get("group_management", "election")
        if election != "election":
            rule = 'a topology filters group management: needs group_management = "election"'
            self.add(where, rule, name)
        path = Path(name) if Path(name).is_absolute() else self.path.parent / name
        if not path.exists():
            self.add(where, f"topology file not found: {display_path(path)}", name)
            return None
        devices = {entry.id: (entry.type, node_id) for _, node_id, entry in entries}
        topology, issues = read_topology(path, [node.id for _, node in nodes], devices)
        self.issues += issues
        return topology

    def _timings(self, raw: dict[str, Any]) -> dict[str, int]:
        file = _dict(raw.get("timings")).get("file")
        if not isinstance(file, str):
            return {}
        path = Path(file) if Path(file).is_absolute() else self.path.parent / file
        values, issues = read_freedm_timings(path)
        self.issues += issues
        return values


@dataclass
class _Claims:
    """The sockets claimed so far, by protocol and port (only those can collide), so a site
    of thousands of nodes is checked in linear time."""

    by_port: dict[tuple[str, int], list[tuple[Endpoint, int | None, Loc]]] = field(
        default_factory=dict
    )

    def first_collision(self, claim: Endpoint, unit: int | None) -> Loc | None:
        """Where ``claim`` is already used; devices on one host:port may differ by unit id."""
        for endpoint, other_unit, loc in self.by_port.get((claim.protocol, claim.port), []):
            shared_gateway = unit is not None and other_unit is not None and unit != other_unit
            if endpoint.collides(claim) and not shared_gateway:
                return loc
        return None

    def add(self, claim: Endpoint, unit: int | None, loc: Loc) -> None:
        self.by_port.setdefault((claim.protocol, claim.port), []).append((claim, unit, loc))


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
