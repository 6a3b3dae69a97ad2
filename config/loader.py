"""Load a site file: shape (pydantic), then cross-checks; every problem is reported at once.

>>> site = load_site(Path("config/examples/three-substations.toml"))   # doctest: +SKIP

raises :class:`ConfigError` listing each problem as
``site.toml:42: nodes[1].devices[2].address = 70000: must be 0..65535``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.device_types import device_types
from config.errors import ConfigError, ConfigIssue, display_path, format_path
from config.profile import Profile, load_profile
from config.schema import issues_from
from config.simulation import SIM_SCHEMAS, DeviceSim, Series
from config.site import Device, DeviceEntry, NodeEntry, Site, SiteDocument
from config.timings import read_freedm_timings, resolve_timings
from config.tomlfile import locate, read_toml

PROFILE_DIR = Path(__file__).with_name("profiles")

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
        devices = self._check_devices(entries)
        timings_values = self._timings(raw)
        if document is None or self.issues:
            return None
        return Site(
            path=self.shown,
            document=document,
            devices=tuple(devices),
            timings=resolve_timings(document.timings, timings_values),
        )

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
        addresses: dict[str, Loc] = {}
        for loc, node in nodes:
            if node.id in ids:
                self.add(
                    (*loc, "id"), f"duplicate node id (also {format_path(ids[node.id])})", node.id
                )
            ids.setdefault(node.id, loc)
            for key in ("api", "peer"):
                address = getattr(node, key)
                if address in addresses:
                    other = format_path(addresses[address])
                    self.add((*loc, key), f"address already used by {other}", address)
                addresses.setdefault(address, (*loc, key))

    def _check_devices(self, entries: list[tuple[Loc, str, DeviceEntry]]) -> list[Device]:
        ids: dict[str, Loc] = {}
        endpoints: dict[tuple[str, object, int], Loc] = {}
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
            endpoint = _endpoint(entry)
            if endpoint is not None:
                if endpoint in endpoints:
                    where = _describe_endpoint(endpoint)
                    self.add(
                        loc, f"{where} already used by {format_path(endpoints[endpoint])}", entry.id
                    )
                endpoints.setdefault(endpoint, loc)
            device = self._device(loc, node_id, entry)
            if device is not None:
                devices.append(device)
        return devices

    def _check_transport(self, loc: Loc, entry: DeviceEntry) -> None:
        transport = entry.transport
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
        if rtu_link and (entry.host or entry.port is not None):
            key = "host" if entry.host else "port"
            self.add((*loc, key), "a serial (RTU) device has no host or port", getattr(entry, key))
        if transport == "fake":
            for key in ("host", "port", "serial_port"):
                if getattr(entry, key) is not None:
                    self.add((*loc, key), "a fake device has no address", getattr(entry, key))
        if entry.values and transport != "fake":
            self.add((*loc, "values"), "initial values are for transport 'fake' only")
        if entry.sim is not None and transport != "simulated":
            self.add((*loc, "sim"), "simulation parameters need transport 'simulated'")

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
            self.add(
                (*loc, "profile"),
                f"profile {profile.name!r} is for {profile.device_type} devices, not {entry.type}",
                entry.profile,
            )
            return None
        names = {p.name for p in profile.points}
        for key in entry.values:
            if key not in names:
                self.add((*loc, "values", key), f"profile {profile.name!r} has no point {key!r}")
        return Device(node_id=node_id, entry=entry, profile=profile, sim=sim)

    def _profile(self, loc: Loc, entry: DeviceEntry) -> Profile | None:
        path = resolve_profile_path(entry.profile, self.path.parent).resolve()
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
        if entry.transport != "simulated":
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

    def _timings(self, raw: dict[str, Any]) -> dict[str, int]:
        file = _dict(raw.get("timings")).get("file")
        if not isinstance(file, str):
            return {}
        path = Path(file) if Path(file).is_absolute() else self.path.parent / file
        values, issues = read_freedm_timings(path)
        self.issues += issues
        return values


def _endpoint(entry: DeviceEntry) -> tuple[str, object, int] | None:
    if entry.serial_port:
        return ("rtu", entry.serial_port, entry.unit)
    if entry.port:  # port 0 means "any free port" and never collides
        return ("tcp", f"{entry.host or '127.0.0.1'}:{entry.port}", entry.unit)
    return None


def _describe_endpoint(endpoint: tuple[str, object, int]) -> str:
    kind, where, unit = endpoint
    return f"{'serial port' if kind == 'rtu' else 'host:port'} {where} unit {unit}"


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
