"""A FREEDM DGI configuration as a site of this project (pure: the files' texts are given).

:func:`convert` reads ``freedm.cfg`` (and, when given, ``adapter.xml``, ``device.xml`` and
``timings.cfg``) and returns the site's TOML text and the notes on what it does not carry
over. What maps:

- each ``add-host=HOST:PORT`` is a node whose ``peer`` is ``HOST:PORT`` (FREEDM's uuid); its
  id is the host's first label when that is unique (``dgi1.lab:51870`` → ``dgi1``), else
  ``LABEL-PORT``; its API listens on the same host at ``api_port_base`` + its position;
- the DGI the file belongs to (``local``, else the one add-host entry with the file's
  ``port``, else the first) gets the devices of ``adapter.xml``'s rtds adapters, as
  ``[[rtds]]`` tables (:mod:`config.freedm.adapters`);
- ``migration-step``, ``malicious-behavior`` and ``check-invariant`` go to ``[algorithm]``
  (with ``mode = "freedm"``: FREEDM's fixed-step algorithm);
- ``timings.cfg`` goes to ``[timings]`` (one of FREEDM's profiles when it is one exactly),
  ``DEV_RTDS_DELAY`` and ``DEV_SOCKET_TIMEOUT`` also to each adapter.

Everything else is a :class:`Note`: file, line, entry and why.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from config.device_types import DeviceType, device_types
from config.freedm import cfg as cfgfile
from config.freedm.adapters import AdapterImport, name_for
from config.freedm.plan import NodePlan, Plan
from config.freedm.render import render
from config.freedm.sources import FreedmError, Note, Source
from config.freedm.xmlfiles import FreedmType, parse_adapters, parse_devices
from config.rtds import TIMEOUT_MS
from config.timings import (
    DEFAULT_PROFILE,
    PROFILES,
    TIMING_KEYS,
    TimingsSettings,
    resolve_timings,
    timing_problems,
)

#: The API port of the first node; the next nodes take the following ports.
API_PORT_BASE = 8101
_LOGGING = "logging is set per process: dgi run -v, --log-format"
#: freedm.cfg options with no equivalent, and why (the others are carried or followed).
NO_EQUIVALENT = {
    "factory-port": "plug-and-play adapters (a TCP server for devices) have no equivalent here",
    "logger-config": _LOGGING,
    "verbose": _LOGGING,
    "topology-config": "FREEDM's topology names uuids: write the site's [site] topology_file "
    "with the node ids above (docs/algorithm.md)",
    "devices-endpoint": "adapters connect from the host's default address",
    "mqtt-id": "the MQTT adapter has no equivalent here",
    "mqtt-address": "the MQTT adapter has no equivalent here",
    "mqtt-subscribe": "the MQTT adapter has no equivalent here",
}
_FOLLOWED = frozenset({"port", *cfgfile.FILE_OPTIONS})


@dataclass(frozen=True)
class ImportResult:
    """The site's TOML text, what was not carried over, and FREEDM uuid → node id."""

    toml: str
    notes: tuple[Note, ...]
    nodes: Mapping[str, str]


def convert(
    freedm_cfg: Source,
    *,
    adapters: Source | None = None,
    devices: Source | None = None,
    timings: Source | None = None,
    local: str | None = None,
    api_port_base: int = API_PORT_BASE,
    site_name: str = "freedm",
) -> ImportResult:
    """The site for a FREEDM configuration; raise :class:`FreedmError` for a bad file."""
    parsed = cfgfile.parse_cfg(freedm_cfg)
    plan = Plan(name_for(site_name))
    plan.files = [("freedm.cfg", freedm_cfg.name)] + [
        (role, source.name)
        for role, source in (("adapters", adapters), ("devices", devices), ("timings", timings))
        if source is not None
    ]
    _options(parsed, plan)
    plan.nodes = _nodes(parsed, plan, local, api_port_base, adapters is not None)
    _timings(timings, plan)
    kinds = device_types()
    freedm_types = None
    if devices is not None:
        freedm_types = parse_devices(devices)
        plan.notes += _type_notes(devices.name, freedm_types, kinds)
    if adapters is not None:
        resolved = resolve_timings(TimingsSettings(profile=plan.timings_profile), plan.timings)
        delay = float(resolved.DEV_RTDS_DELAY) or 1.0
        timeout = float(resolved.DEV_SOCKET_TIMEOUT) or TIMEOUT_MS
        job = AdapterImport(adapters.name, kinds, freedm_types, delay, timeout)
        plan.adapters, plan.devices = job.run(parse_adapters(adapters))
        plan.notes += job.notes
    nodes = {node.uuid: node.id for node in plan.nodes}
    return ImportResult(render(plan), tuple(plan.notes), nodes)


# -- freedm.cfg ------------------------------------------------------------------------------


def _options(parsed: cfgfile.FreedmCfg, plan: Plan) -> None:
    file = parsed.file
    handlers: dict[str, Callable[[cfgfile.Option], None]] = {
        "migration-step": lambda o: _step(file, o, plan),
        "malicious-behavior": lambda o: setattr(plan, "malicious", cfgfile.parse_bool(file, o)),
        "check-invariant": lambda o: setattr(plan, "check_invariant", cfgfile.parse_bool(file, o)),
        "address": lambda o: _address(file, o, plan),
    }
    for key, option in parsed.options.items():
        if key in handlers:
            handlers[key](option)
        elif key in NO_EQUIVALENT:
            plan.notes.append(Note(file, option.line, key, NO_EQUIVALENT[key]))
        elif key not in _FOLLOWED:
            plan.notes.append(Note(file, option.line, key, "not a FREEDM option"))


def _step(file: str, option: cfgfile.Option, plan: Plan) -> None:
    step = cfgfile.parse_float(file, option)
    if step > 0 and step < float("inf"):
        plan.migration_step = step
    else:
        why = "must be > 0 here; the site keeps FREEDM's default, 1"
        plan.notes.append(Note(file, option.line, f"migration-step = {option.value}", why))


def _address(file: str, option: cfgfile.Option, plan: Plan) -> None:
    if option.value not in ("0.0.0.0", "::", ""):
        why = "a node binds the host of its peer address (its add-host entry)"
        plan.notes.append(Note(file, option.line, f"address = {option.value}", why))


def _nodes(
    parsed: cfgfile.FreedmCfg, plan: Plan, local: str | None, base: int, devices: bool
) -> list[NodePlan]:
    """One node per DGI named by add-host (the first line of a uuid wins, as in FREEDM)."""
    file = parsed.file
    hosts: list[cfgfile.Host] = []
    seen: dict[str, int] = {}
    for host in parsed.hosts:
        if host.uuid in seen:
            why = f"the same DGI as line {seen[host.uuid]} (FREEDM keeps the first)"
            plan.notes.append(Note(file, host.line, f"add-host = {host.host}:{host.port}", why))
            continue
        seen[host.uuid] = host.line
        hosts.append(host)
    port_option = parsed.options.get("port")
    port = cfgfile.DEFAULT_PORT if port_option is None else cfgfile.parse_port(file, port_option)
    me = _local(file, hosts, local, port, plan, devices)
    if base < 1 or base + len(hosts) - 1 > 65535:
        raise ValueError(f"API ports {base}..{base + len(hosts) - 1} must be within 1..65535")
    return [
        NodePlan(node_id, h.uuid, f"{h.host}:{h.port}", f"{h.host}:{base + n}", n == me)
        for n, (node_id, h) in enumerate(zip(_ids(hosts), hosts, strict=True))
    ]


def parse_local(text: str) -> cfgfile.Host:
    """``--local HOST:PORT``; raise ValueError when it is not one."""
    try:
        return cfgfile.parse_host("--local", 0, text, "--local")
    except FreedmError as exc:
        raise ValueError(exc.message) from None


def _local(
    file: str, hosts: list[cfgfile.Host], local: str | None, port: int, plan: Plan, devices: bool
) -> int:
    """The position of the DGI this freedm.cfg belongs to (added when no add-host names it)."""
    if local is not None:
        wanted = parse_local(local)
        for n, host in enumerate(hosts):
            if host.uuid == wanted.uuid:
                return n
        hosts.insert(0, wanted)
        return 0
    if not hosts:
        hosts.append(cfgfile.Host("localhost", port, 0))  # FREEDM's record of itself
        return 0
    matching = [n for n, host in enumerate(hosts) if host.port == port]
    if len(matching) == 1:
        return matching[0]
    if devices:
        first = hosts[0]
        count = f"{len(matching)} add-host entries have" if matching else "no add-host entry has"
        why = (
            f"{count} this DGI's port {port}: the devices go to {first.host}:{first.port} "
            "(--local HOST:PORT chooses)"
        )
        plan.notes.append(Note(file, None, "the local DGI", why))
    return 0


def _label(host: str) -> str | None:
    """The first label of a host name (None for an address or localhost)."""
    bare = host.strip("[]").lower()
    try:
        ipaddress.ip_address(bare)
        return None
    except ValueError:
        pass
    label = bare.split(".", 1)[0]
    return None if label in ("", "localhost") else name_for(label)


def _ids(hosts: list[cfgfile.Host]) -> list[str]:
    """Readable node ids: the host's first label, else label-port, else host-port."""
    labels = [_label(host.host) for host in hosts]
    ids = [
        label if label and labels.count(label) == 1 else f"{label or 'dgi'}-{host.port}"
        for label, host in zip(labels, hosts, strict=True)
    ]
    return [
        node_id if ids.count(node_id) == 1 else name_for(f"{host.host.lower()}-{host.port}")
        for node_id, host in zip(ids, hosts, strict=True)
    ]


# -- timings.cfg and device.xml --------------------------------------------------------------


def _timings(source: Source | None, plan: Plan) -> None:
    if source is None:
        why = f"none read: the site runs profile {DEFAULT_PROFILE} (FREEDM needs one to start)"
        plan.notes.append(Note("timings.cfg", None, "timings", why))
        return
    values, lines, notes = cfgfile.parse_timings(source)
    plan.notes += notes
    for name, profile in PROFILES.items():
        if values == {key: getattr(profile, key) for key in TIMING_KEYS}:
            plan.timings_profile = name  # type: ignore[assignment]  # PROFILES' keys
            plan.timings_note = f"{source.name} is FREEDM's {name} exactly"
            return
    base = PROFILES[DEFAULT_PROFILE]
    for key in TIMING_KEYS:
        if key not in values:
            why = f"missing (FREEDM requires it): {DEFAULT_PROFILE}'s {getattr(base, key)} ms"
            plan.notes.append(Note(source.name, None, key, why))
    while problems := timing_problems(resolve_timings(TimingsSettings(), values)):
        for key, rule in problems:
            if values.pop(key, None) is not None:
                why = f"{rule}: refused here, {DEFAULT_PROFILE}'s {getattr(base, key)} ms instead"
                plan.notes.append(Note(source.name, lines.get(key), key, why))
        if not any(key in values for key, _ in problems):
            values.clear()  # what is left only fails with the profile's values: take them all
    plan.timings = values
    plan.timings_note = f"the keys below are {source.name}'s" + (
        f"; the others {DEFAULT_PROFILE}'s" if len(values) < len(TIMING_KEYS) else ""
    )
    if values.get("DEV_RTDS_DELAY") == 0:
        why = "an adapter's delay_ms must be > 0 here: 1 ms"
        plan.notes.append(Note(source.name, lines.get("DEV_RTDS_DELAY"), "DEV_RTDS_DELAY", why))


def _type_notes(
    file: str, freedm: Mapping[str, FreedmType], kinds: Mapping[str, DeviceType]
) -> list[Note]:
    """How each device type of device.xml differs from this project's type of that name."""
    notes = []
    for name, freedm_type in freedm.items():
        kind = kinds.get(name)
        where = f"deviceType {name}"
        if kind is None:
            why = f"no device type {name} here (types: {', '.join(sorted(kinds))})"
            notes.append(Note(file, freedm_type.line, where, why + "; its devices are left out"))
            continue
        tables = (
            ("state", freedm_type.states, kind.states + kind.optional_states, kind.states),
            ("command", freedm_type.commands, kind.commands, kind.commands),
        )
        for what, theirs, allowed, needed in tables:
            for signal in theirs:
                if signal not in allowed:
                    why = f"a {name} here has no {what} {signal} ({what}s: {', '.join(allowed)})"
                    notes.append(Note(file, freedm_type.line, where, why))
            for signal in needed:
                if signal not in theirs:
                    why = f"a {name} here needs {what} {signal}, which FREEDM's {name} lacks"
                    notes.append(Note(file, freedm_type.line, where, why))
    return notes
