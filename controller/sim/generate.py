"""A site made up for a scenario: N substations on F feeders, each feeder a radial chain.

``generate_site(1000, 40, seed=7, ...)`` gives a :class:`config.site.Site` exactly as
:func:`config.loader.load_site` would give it for the files :func:`write_site` writes, so a
scenario run in virtual time (``dgi sim``) and the same site run as ``dgi run`` processes
around ``dgi simulate`` agree on every device.

Each node ``f03-n0007`` (feeder, then its number over the whole site) has one Modbus gateway
(``127.0.0.1:<port>``, unit ids 1..) carrying the devices FREEDM's load balancing reads:

- ``-gateway`` Sst (its PStar follows the controller's setpoint with ``lag_s``),
- ``-pv`` Drer (``generation``), ``-load`` Load (``drain``),
- ``-logger`` Logger (dgiEnable 1), ``-omega`` Omega (the bus frequency),
- optionally ``-storage`` Desd and ``-ev`` Evse,
- ``-fid`` Fid, on every node but the first of its feeder: it guards the edge to the node
  before it in the chain.

The topology has one connected component per feeder and none between them, so group
management keeps each feeder's nodes in their own group; opening a Fid splits a feeder.
Feeders differ in size by at most one node. Per-node values drawn from a ``{ min, max }``
range come from ``random.Random(seed)``, node by node in site order (gateway, generation,
load), rounded to 0.001 kW so the written file holds them exactly.

The site is built from its document directly (one pydantic validation of the whole
document, the shipped profiles read once): the loader's cross-checks are quadratic in the
number of addresses and take minutes at 5 000 nodes, and every property they check holds
here by construction (unique ids and addresses, every device's profile of its type, the
topology's vertices and Fids). A test loads the written files with the real loader and
compares.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from config.errors import ConfigError
from config.loader import PROFILE_DIR
from config.profile import Profile, load_profile
from config.simulation import SIM_SCHEMAS, DeviceSim
from config.site import Device, DeviceEntry, Site, SiteDocument
from config.timings import DEFAULT_PROFILE, ProfileName, TimingsSettings, resolve_timings
from config.topology import Edge, Topology, edge

MAX_NODES = 5000
#: Written sites use ports PORT_BASE + i (API), + 10 000 + i (peer), + 20 000 + i (devices).
PORT_BASE = 20000
TOPOLOGY_FILE = "topology.cfg"


@dataclass(frozen=True)
class Span:
    """A value drawn uniformly from ``low..high`` for each node (``low == high``: fixed)."""

    low: float
    high: float

    def draw(self, rng: random.Random) -> float:
        if self.low == self.high:
            return self.low
        return round(rng.uniform(self.low, self.high), 3)


Amount = float | Span


@dataclass(frozen=True)
class _Kind:
    suffix: str
    type: str
    profile: str


_SST = _Kind("gateway", "Sst", "sst")
_DRER = _Kind("pv", "Drer", "drer")
_LOAD = _Kind("load", "Load", "load")
_LOGGER = _Kind("logger", "Logger", "logger")
_OMEGA = _Kind("omega", "Omega", "omega")
_DESD = _Kind("storage", "Desd", "desd")
_EVSE = _Kind("ev", "Evse", "evse")
_FID = _Kind("fid", "Fid", "fid")


def feeder_sizes(nodes: int, feeders: int) -> list[int]:
    """``nodes`` split over ``feeders`` as evenly as can be (the first ones get one more)."""
    if not 1 <= feeders <= nodes <= MAX_NODES:
        raise ValueError(f"need 1 <= feeders ({feeders}) <= nodes ({nodes}) <= {MAX_NODES}")
    base, extra = divmod(nodes, feeders)
    return [base + (1 if f < extra else 0) for f in range(feeders)]


def feeder_names(feeders: int) -> list[str]:
    width = max(2, len(str(feeders)))
    return [f"f{f:0{width}d}" for f in range(1, feeders + 1)]


Balance = Literal["feeder", "site", "none"]


def generate_site(
    nodes: int,
    feeders: int,
    *,
    seed: int = 0,
    gateway: Amount = 0.0,
    generation: Amount = 0.0,
    load: Amount = 0.0,
    timings: ProfileName = DEFAULT_PROFILE,
    mode: Literal["freedm", "adaptive"] = "adaptive",
    name: str = "",
    capacity_kw: float = 100.0,
    lag_s: float = 0.2,
    storage_kwh: float | None = None,
    chargers: bool = False,
    port_base: int = PORT_BASE,
    balance: Balance = "feeder",
) -> Site:
    """A valid site of ``nodes`` substations on ``feeders`` radial feeders (module doc).

    ``balance``: the gateways drawn are shifted, equally on each node, so that they sum to the
    net generations over each feeder (``"feeder"``: every feeder can balance by itself), over
    the site (``"site"``: feeders need power from each other), or not at all (``"none"``).
    A group only moves power between its members, so a group whose gateways do not sum to
    its net generations cannot balance.
    """
    sizes = feeder_sizes(nodes, feeders)
    if port_base < 1 or port_base + 20000 + nodes > 65535:
        raise ValueError(f"port_base {port_base}: ports must stay within 1..65535")
    rng = random.Random(seed)
    spans = [_span(gateway), _span(generation), _span(load)]
    kinds = [_SST, _DRER, _LOAD, _LOGGER, _OMEGA]
    kinds += [_DESD] if storage_kwh is not None else []
    kinds += [_EVSE] if chargers else []
    raw_nodes: list[dict[str, Any]] = []
    edges: dict[Edge, frozenset[str]] = {}
    fid_node: dict[str, str] = {}
    drawn = _balanced([[span.draw(rng) for span in spans] for _ in range(nodes)], sizes, balance)
    index = 0
    width = max(4, len(str(nodes)))
    for feeder, size in zip(feeder_names(feeders), sizes, strict=True):
        previous: str | None = None
        for _ in range(size):
            index += 1
            node = f"{feeder}-n{index:0{width}d}"
            values = drawn[index - 1]
            sims = _sims(values, lag_s, storage_kwh)
            devices = [_device(node, kind, unit, port_base + 20000 + index, sims.get(kind.type))
                       for unit, kind in enumerate(kinds, start=1)]  # fmt: skip
            if previous is not None:
                fid = _device(node, _FID, len(kinds) + 1, port_base + 20000 + index, None)
                devices.append(fid)
                edges[edge(previous, node)] = frozenset({fid["id"]})
                fid_node[fid["id"]] = node
            raw_nodes.append(_node(node, index, port_base, capacity_kw, devices))
            previous = node
    raw = {
        "site": {
            "name": name or f"generated-{nodes}x{feeders}",
            "description": f"{nodes} substations on {feeders} radial feeders (seed {seed})",
            "topology_file": TOPOLOGY_FILE,
        },
        "algorithm": {"mode": mode},
        "timings": {"profile": timings},
        "nodes": raw_nodes,
    }
    document = SiteDocument.model_validate(raw)
    vertex_of = {node["id"]: node["id"] for node in raw_nodes}
    topology = Topology(vertex_of, edges, fid_node, TOPOLOGY_FILE)
    return Site(
        f"<generated {document.site.name}>",
        document,
        _devices(document),
        resolve_timings(TimingsSettings(profile=timings), {}),
        topology,
    )


def _balanced(
    drawn: list[list[float]], sizes: Sequence[int], balance: Balance
) -> list[list[float]]:
    """``drawn`` (gateway, generation, load per node) with the gateways shifted (see
    :func:`generate_site`)."""
    if balance == "none":
        return drawn
    cells = [len(drawn)] if balance == "site" else list(sizes)
    out, start = [], 0
    for size in cells:
        part = drawn[start : start + size]
        start += size
        shift = sum(gen - load - gw for gw, gen, load in part) / max(1, size)
        out += [[round(gw + shift, 6), gen, load] for gw, gen, load in part]
    return out


def _span(amount: Amount) -> Span:
    return amount if isinstance(amount, Span) else Span(float(amount), float(amount))


def _sims(values: Sequence[float], lag_s: float, storage_kwh: float | None) -> dict[str, Any]:
    gateway, generation, load = values
    sims: dict[str, Any] = {
        "Sst": {"initial_kw": gateway, "lag_s": lag_s},
        "Drer": {"generation": generation},
        "Load": {"drain": load},
    }
    if storage_kwh is not None:
        sims["Desd"] = {"capacity_kwh": storage_kwh, "soc": 60.0}
    return sims


def _device(node: str, kind: _Kind, unit: int, port: int, sim: object) -> dict[str, Any]:
    device: dict[str, Any] = {
        "id": f"{node}-{kind.suffix}",
        "type": kind.type,
        "transport": "simulated",
        "host": "127.0.0.1",
        "port": port,
        "unit": unit,
        "profile": kind.profile,
    }
    if sim is not None:
        device["sim"] = sim
    return device


def _node(
    node: str, index: int, port_base: int, capacity_kw: float, devices: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": node,
        "api": f"127.0.0.1:{port_base + index}",
        "peer": f"127.0.0.1:{port_base + 10000 + index}",
        "capacity_kw": capacity_kw,
        "devices": devices,
    }


def _devices(document: SiteDocument) -> tuple[Device, ...]:
    profiles = _profiles()
    sims: dict[str, DeviceSim] = {}  # one validation per distinct sim table (frozen models)

    def sim(entry: DeviceEntry) -> DeviceSim:
        key = f"{entry.type} {sorted((entry.sim or {}).items())}"
        if key not in sims:
            sims[key] = SIM_SCHEMAS[entry.type].model_validate(entry.sim or {})
        return sims[key]

    return tuple(
        Device(node.id, entry, profiles[entry.profile or ""], sim(entry))
        for node in document.nodes
        for entry in node.devices
    )


def _profiles() -> Mapping[str, Profile]:
    """The shipped profiles a generated node uses, read once per site."""
    found: dict[str, Profile] = {}
    for kind in (_SST, _DRER, _LOAD, _LOGGER, _OMEGA, _DESD, _EVSE, _FID):
        profile, issues = load_profile(PROFILE_DIR / f"{kind.profile}.toml")
        if profile is None:
            raise ConfigError(issues)
        found[kind.profile] = profile
    return found


# -- written out, for dgi run / dgi simulate -------------------------------------------------------


def write_site(site: Site, directory: Path | str, *, file: str = "site.toml") -> Path:
    """Write ``site`` (generated, or any site with a topology) as a site file plus its
    ``topology.cfg`` in ``directory``; return the site file's path. ``dgi run`` also needs
    the group key and API token the site names (``dgi keygen``, ``dgi api-token``)."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    document = site.document
    if site.topology is not None:
        header = document.site.model_copy(update={"topology_file": TOPOLOGY_FILE})
        document = document.model_copy(update={"site": header})
        (folder / TOPOLOGY_FILE).write_text(render_topology(site.topology), encoding="utf-8")
    target = folder / file
    target.write_text(render_site(document), encoding="utf-8")
    return target


def render_topology(topology: Topology) -> str:
    """FREEDM's ``topology.cfg`` text: edge, sst and fid lines."""
    lines = ["# generated: one radial chain per feeder"]
    lines += [f"edge {a} {b}" for a, b in topology.edges]
    lines += [f"sst {vertex} {node}" for node, vertex in topology.vertex_of.items()]
    lines += [
        f"fid {a} {b} {fid}" for (a, b), fids in topology.edges.items() for fid in sorted(fids)
    ]
    return "\n".join(lines) + "\n"


def render_site(document: SiteDocument) -> str:
    """The site file's TOML text (values that are their defaults left out)."""
    data = document.model_dump(exclude_defaults=True, exclude_none=True)
    out: list[str] = []
    for table in ("site", "algorithm", "timings", "ev", "simulation"):
        if data.get(table):
            out += [f"[{table}]", *_keys(data[table]), ""]
    for node in data.get("nodes", []):
        devices = node.pop("devices", [])
        out += ["[[nodes]]", *_keys(node), ""]
        for device in devices:
            out += ["[[nodes.devices]]", *_keys(device), ""]
    return "\n".join(out)


def _keys(table: Mapping[str, Any]) -> list[str]:
    return [f"{key} = {_value(value)}" for key, value in table.items()]


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
