"""The sections beyond the original server: a built-in ``[plant]`` and ``[[modbus]]`` exposures.

Both are optional and TOML only (the original's XML has neither)::

    [plant]                        # run the simulators' plant over the cells
    tick_s = 0.1                   # one plant step, and the states written, per tick
    nominal_frequency = 376.8      # the bus (as a site's [simulation]); droop, time_scale,
    droop = 0.05                   # profile_start_s likewise
    exclude = ["pv1"]              # devices the plant leaves alone (PSCAD's, or nobody's)

    [plant.devices.sst1-gateway]   # optional, per device
    node = "sst1"                  # its substation (default: one substation, "plant")
    profile = "sst"                # the limits of its command (default: [[modbus]]'s, else
                                   # the shipped profile named after the type, "sst")
    sim = { initial_kw = -20.0, lag_s = 0.2 }   # a site's sim table (config/simulation.py)

    [[modbus]]                     # the cells of a device as a Modbus/TCP server
    device = "sst1-gateway"
    profile = "sst"                # a shipped profile name (config/profiles/), or a path
    port = 15501                   # 0: any free port; several devices may share one port,
    unit = 1                       # one unit id each; host: [server]'s unless given

**Precedence.** The plant simulates every device of the cells that ``exclude`` does not name:
each tick it writes every state its models have into the cells. PSCAD's ``SET``/``RST`` would
overwrite those states between ticks, so a device is simulated by the plant or by PSCAD, never
both: a simulation adapter's state entry of a plant device is refused (exclude the device, or
drop the entry). PSCAD's ``GET`` of the commands is allowed and sees what the controllers wrote.

:class:`Extensions` checks both sections with the cells' devices and the adapters' ports in
hand and reports each defect through the server checker's ``add`` (file, line, entry, rule).
Profiles are read from disk (the shipped ones, or a path relative to the configuration file);
everything else is pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from config.errors import ConfigIssue, format_path
from config.loader import PROFILE_DIR, resolve_profile_path
from config.profile import Profile, load_profile
from config.schema import issues_from
from config.simulation import SIM_SCHEMAS, DeviceSim

DEFAULT_TICK_S = 0.1
MAX_TICK_S = 60.0
DEFAULT_NODE = "plant"
PLANT_KEYS = (
    "tick_s",
    "nominal_frequency",
    "droop",
    "time_scale",
    "profile_start_s",
    "exclude",
    "devices",
)
PLANT_DEVICE_KEYS = ("node", "profile", "sim")
MODBUS_KEYS = ("device", "profile", "port", "unit", "host")
_WILDCARDS = ("", "0.0.0.0", "::")

Loc = tuple[str | int, ...]
Add = Callable[..., None]  # add(loc, rule, *value): the server checker's issue sink
ProfileLoader = Callable[[Path], tuple[Profile | None, list[ConfigIssue]]]


@dataclass(frozen=True)
class PlantDevice:
    """A device the plant simulates: its cells' type, substation, profile and sim table."""

    device: str
    type: str
    node: str
    profile: Profile
    sim: DeviceSim


@dataclass(frozen=True)
class PlantSettings:
    """A checked ``[plant]``: the bus, the clock and the devices, in the cells' order."""

    devices: tuple[PlantDevice, ...]
    tick_s: float = DEFAULT_TICK_S
    nominal_frequency: float = 376.8
    droop: float = 0.05
    time_scale: float = 1.0
    profile_start_s: float = 0.0
    base: str = "."  # where a sim series' csv is relative to (the configuration's folder)

    @property
    def device_ids(self) -> frozenset[str]:
        return frozenset(d.device for d in self.devices)


@dataclass(frozen=True)
class ModbusExposure:
    """One ``[[modbus]]``: a device's cells served through a profile at host:port, unit."""

    device: str
    type: str
    profile: Profile
    host: str
    port: int
    unit: int = 1


@dataclass
class Extensions:
    """Checks ``[plant]`` and ``[[modbus]]`` of one file (see the module docstring)."""

    add: Add
    extend: Callable[[list[ConfigIssue]], None]  # for a sim table's pydantic issues
    file: str
    text: str
    device_types: Mapping[str, str]  # device -> type, every device of the adapters' tables
    load: ProfileLoader = load_profile
    _profiles: dict[Path, Profile | None] = field(default_factory=dict)

    def modbus(self, raw: object, default_host: str) -> tuple[ModbusExposure, ...] | None:
        """The ``[[modbus]]`` list (``()`` if absent); ``None`` when it has errors."""
        if raw is None:
            return ()
        if not isinstance(raw, list) or not all(isinstance(m, dict) for m in raw):
            self.add(("modbus",), "must be a list of tables ([[modbus]])")
            return None
        found: list[ModbusExposure] = []
        ok = True
        for i, body in enumerate(raw):
            exposure = self._exposure(body, ("modbus", i), default_host)
            if exposure is None:
                ok = False
            else:
                found.append(exposure)
        return tuple(found) if ok else None

    def _exposure(self, body: dict[str, Any], loc: Loc, default_host: str) -> ModbusExposure | None:
        self._unknown(body, MODBUS_KEYS, loc)
        ok = not any(key not in MODBUS_KEYS for key in body)
        device = self._device(body.get("device"), (*loc, "device"), required=True)
        ok = ok and device is not None
        port = body.get("port")
        if port is None:
            self.add((*loc, "port"), "required key missing (0: any free port)")
            ok = False
        elif not _is_int(port) or not 0 <= port <= 65535:
            self.add((*loc, "port"), "must be an integer 0..65535 (0: any free port)", port)
            ok = False
        unit = body.get("unit", 1)
        if not _is_int(unit) or not 0 <= unit <= 255:
            self.add((*loc, "unit"), "must be an integer 0..255 (the Modbus unit id)", unit)
            ok = False
        host = body.get("host", default_host)
        if not isinstance(host, str) or not host:
            self.add((*loc, "host"), "must be a non-empty string (an address to listen on)", host)
            ok = False
        profile = None
        if "profile" not in body:
            self.add((*loc, "profile"), "required key missing: a profile of config/profiles/")
            ok = False
        else:
            profile = self._profile(body["profile"], (*loc, "profile"), device)
        if not ok or profile is None or device is None or port is None:
            return None
        return ModbusExposure(device, self.device_types[device], profile, host, port, unit)

    def modbus_across(
        self, exposures: Sequence[ModbusExposure], adapters: Sequence[tuple[str, int, Loc]]
    ) -> None:
        """A device exposed twice, one unit id twice on a port, a port an adapter has."""
        devices: dict[str, int] = {}
        units: dict[tuple[str, int, int], int] = {}
        for i, exposure in enumerate(exposures):
            loc: Loc = ("modbus", i)
            if exposure.device in devices:
                self.add(
                    (*loc, "device"),
                    f"already served by modbus[{devices[exposure.device]}]; one exposure per "
                    "device",
                    exposure.device,
                )
            devices.setdefault(exposure.device, i)
            if exposure.port == 0:
                continue
            key = (exposure.host, exposure.port, exposure.unit)
            if key in units:
                self.add(
                    (*loc, "unit"),
                    f"port {exposure.port} serves unit {exposure.unit} already (modbus"
                    f"[{units[key]}]); devices sharing a port need distinct unit ids",
                    exposure.unit,
                )
            units.setdefault(key, i)
            for host, port, where in adapters:
                if port == exposure.port and _same_host(host, exposure.host):
                    self.add(
                        (*loc, "port"),
                        f"adapter {format_path(where)} listens on this port; a Modbus "
                        "exposure needs a port of its own",
                        exposure.port,
                    )

    def plant(
        self,
        raw: object,
        exposures: Sequence[ModbusExposure],
        simulated_states: Sequence[tuple[str, str, Loc]],
    ) -> PlantSettings | None:
        """The ``[plant]`` table (``None`` if absent or with errors). ``simulated_states``:
        (device, signal, entry location) of every simulation adapter's state entry."""
        if raw is None:
            return None
        loc: Loc = ("plant",)
        if not isinstance(raw, dict):
            self.add(loc, "must be a table ([plant])")
            return None
        self._unknown(raw, PLANT_KEYS, loc)
        numbers: dict[str, float] = {}
        limits = {
            "tick_s": (DEFAULT_TICK_S, "a number > 0 and <= 60 (seconds per plant step)"),
            "nominal_frequency": (376.8, "a number > 0 (rad/s)"),
            "droop": (0.05, "a number >= 0"),
            "time_scale": (1.0, "a number > 0 (profile seconds per second)"),
            "profile_start_s": (0.0, "a number >= 0"),
        }
        ok = True
        for key, (default, rule) in limits.items():
            value = raw.get(key, default)
            fine = _is_number(value) and math.isfinite(value)
            if fine and key in ("droop", "profile_start_s"):
                fine = value >= 0
            elif fine:
                fine = value > 0 and (key != "tick_s" or value <= MAX_TICK_S)
            if not fine:
                self.add((*loc, key), f"must be {rule}", value)
                ok = False
            else:
                numbers[key] = float(value)
        excluded = self._exclude(raw.get("exclude", []), (*loc, "exclude"))
        if excluded is None:
            return None
        settings = raw.get("devices", {})
        if not isinstance(settings, dict) or not all(
            isinstance(body, dict) for body in settings.values()
        ):
            self.add((*loc, "devices"), "must be a table of device tables ([plant.devices.ID])")
            return None
        for device in settings:
            dloc = (*loc, "devices", device)
            if self._device(device, dloc, required=True) is None:
                ok = False
            elif device in excluded:
                self.add(dloc, "the device is in [plant] exclude; drop one of the two", device)
                ok = False
        profiles = {e.device: e.profile for e in exposures}
        devices: list[PlantDevice] = []
        for device, kind in self.device_types.items():
            if device in excluded:
                continue
            built = self._plant_device(device, kind, settings.get(device, {}), profiles)
            if built is None:
                ok = False
            else:
                devices.append(built)
        if not devices and ok:
            self.add((*loc, "exclude"), "every device is excluded: the plant has nothing to run")
            ok = False
        plant_ids = {d.device for d in devices}
        for device, signal, where in simulated_states:
            if device in plant_ids:
                self.add(
                    where,
                    f"({device!r}, {signal!r}) is a state the built-in plant writes; PSCAD's "
                    "SET would overwrite it: a device is simulated by the plant or by PSCAD, "
                    "not both (add it to [plant] exclude, or drop this entry)",
                )
                ok = False
        if not ok:
            return None
        return PlantSettings(
            devices=tuple(devices),
            base=str(Path(self.file).parent),
            **numbers,
        )

    def _plant_device(
        self, device: str, kind: str, body: dict[str, Any], profiles: Mapping[str, Profile]
    ) -> PlantDevice | None:
        loc: Loc = ("plant", "devices", device)
        self._unknown(body, PLANT_DEVICE_KEYS, loc)
        ok = not any(key not in PLANT_DEVICE_KEYS for key in body)
        if not self._named(device, ("plant",)):
            return None
        node = body.get("node", DEFAULT_NODE)
        if not isinstance(node, str) or not node:
            self.add((*loc, "node"), "must be a non-empty string (the device's substation)", node)
            ok = False
        if "profile" in body:
            profile = self._profile(body["profile"], (*loc, "profile"), device)
        elif device in profiles:
            profile = profiles[device]
        else:
            profile = self._profile(kind.lower(), loc, device)
        schema = SIM_SCHEMAS.get(kind)
        sim: DeviceSim | None = None
        if schema is None:
            self.add(loc, f"the plant has no model of device type {kind}", device)
            ok = False
        else:
            try:
                sim = schema.model_validate(body.get("sim", {}))
            except ValidationError as exc:
                self.extend(
                    issues_from(
                        exc, model=schema, file=self.file, text=self.text, prefix=(*loc, "sim")
                    )
                )
                ok = False
        if not ok or profile is None or sim is None:
            return None
        return PlantDevice(device, kind, str(node), profile, sim)

    def _exclude(self, raw: object, loc: Loc) -> frozenset[str] | None:
        if not isinstance(raw, list) or not all(isinstance(d, str) for d in raw):
            self.add(loc, "must be a list of device names", raw)
            return None
        ok = True
        for i, device in enumerate(raw):
            ok = self._device(device, (*loc, i), required=True) is not None and ok
        return frozenset(raw) if ok else None

    def _device(self, device: object, loc: Loc, *, required: bool) -> str | None:
        if device is None:
            if required:
                self.add(loc, "required key missing: a device of the adapters' tables")
            return None
        if not isinstance(device, str) or device not in self.device_types:
            known = ", ".join(sorted(self.device_types)) or "none"
            self.add(loc, f"not a device of any adapter's table; devices: {known}", device)
            return None
        return device if self._named(device, loc) else None

    def _named(self, device: str, loc: Loc) -> bool:
        """A device the plant or a Modbus exposure plays is named as a site's device."""
        if device and all(ch.isalnum() or ch in "-_." for ch in device):
            return True
        self.add(
            loc,
            "a device the plant runs or Modbus serves needs a name of letters, digits, '-', "
            "'_' or '.'",
            device,
        )
        return False

    def _profile(self, reference: object, loc: Loc, device: str | None) -> Profile | None:
        """The profile ``reference`` names, checked to be of ``device``'s type."""
        if not isinstance(reference, str) or not reference:
            self.add(loc, "must be a profile name (config/profiles/) or a path", reference)
            return None
        path = resolve_profile_path(reference, Path(self.file).parent)
        if not path.is_file():
            shipped = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
            self.add(loc, f"unknown profile; shipped: {shipped} (or a path to one)", reference)
            return None
        if path not in self._profiles:
            profile, issues = self.load(path)
            for issue in issues:
                self.add(loc, f"profile {reference!r} is invalid: {issue}", reference)
            self._profiles[path] = profile
        profile = self._profiles[path]
        if profile is None or device is None:
            return profile
        kind = self.device_types[device]
        if profile.device_type != kind:
            self.add(
                loc,
                f"profile {profile.name} is for device type {profile.device_type}; "
                f"{device!r} is a {kind} in the adapters' tables",
                reference,
            )
            return None
        return profile

    def _unknown(self, table: dict[str, Any], allowed: Sequence[str], loc: Loc) -> None:
        for key in table:
            if key not in allowed:
                self.add((*loc, key), f"unknown key; allowed: {', '.join(allowed)}")


def _same_host(a: str, b: str) -> bool:
    return a == b or a in _WILDCARDS or b in _WILDCARDS


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
