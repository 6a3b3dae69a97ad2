"""What the HELICS federates of a site agree on (pure): names, packed values, the split.

A federation is one plant federate and node federates that share the site file. They meet
on names derived from the node ids, so a federate needs no table of where the others are:

- ``dgi/plant/<node>``: a publication of the plant federate, one per node (packed: every
  state and every held command point of the node's devices, with the plant time they were
  sampled at — :func:`pack_states`). A packed value per node, not one per signal, keeps a
  1000-node federation at 1000 publications.
- ``dgi/setpoints/<node>``: a publication of the node's federate, the writes its actuator
  made in one step (:func:`pack_setpoints`), in order.
- ``dgi/node/<node>``: the node's endpoint. A peer datagram goes to the destination node's
  endpoint, unchanged (sealed, as on UDP: the source is in its envelope), from the sending
  federate's endpoint ``dgi/federate/<name>``.

:func:`split_nodes` splits the site's nodes into contiguous runs (a feeder stays within a
federate when the sizes allow), :func:`select_nodes` reads ``--nodes``/``--all``/``--slice``,
and :func:`runner` writes the JSON ``helics run --path`` takes.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Values = dict[str, dict[str, float | None]]  # device -> signal -> value


def states_topic(node: str) -> str:
    return f"dgi/plant/{node}"


def setpoints_topic(node: str) -> str:
    return f"dgi/setpoints/{node}"


def node_endpoint(node: str) -> str:
    return f"dgi/node/{node}"


def federate_endpoint(name: str) -> str:
    return f"dgi/federate/{name}"


@dataclass(frozen=True)
class StatesReport:
    """One node's devices as the plant sampled them at plant time ``at``."""

    at: float
    states: Values
    held: Values


def pack_states(report: StatesReport) -> str:
    return json.dumps(
        {"t": report.at, "s": report.states, "h": report.held},
        allow_nan=False,
        separators=(",", ":"),
    )


def _values(raw: object, what: str) -> Values:
    if not isinstance(raw, dict):
        raise ValueError(f"{what} must be an object of devices")
    out: Values = {}
    for device, signals in raw.items():
        if not isinstance(signals, dict):
            raise ValueError(f"{what}[{device!r}] must be an object of signals")
        values: dict[str, float | None] = {}
        for signal, value in signals.items():
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"{what}[{device!r}][{signal!r}] = {value!r} is not a number")
            values[str(signal)] = None if value is None else float(value)
        out[str(device)] = values
    return out


def unpack_states(text: str) -> StatesReport:
    """A packed report, or ValueError saying what is wrong with it."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("t"), int | float):
        raise ValueError('a states report is {"t": time, "s": {...}, "h": {...}}')
    at = float(raw["t"])
    if not math.isfinite(at):
        raise ValueError(f"time {at} is not finite")
    return StatesReport(at, _values(raw.get("s", {}), "s"), _values(raw.get("h", {}), "h"))


Write = tuple[str, str, float]  # (device, signal, value)


def pack_setpoints(writes: Sequence[Write]) -> str:
    return json.dumps([[d, s, v] for d, s, v in writes], allow_nan=False)


def unpack_setpoints(text: str) -> list[Write]:
    """Packed writes, or ValueError saying what is wrong with them."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if not isinstance(raw, list):
        raise ValueError("setpoints are a list of [device, signal, value]")
    writes: list[Write] = []
    for item in raw:
        ok = isinstance(item, list) and len(item) == 3
        if not ok or not isinstance(item[0], str) or not isinstance(item[1], str):
            raise ValueError(f"{item!r} is not [device, signal, value]")
        value = item[2]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{item!r}: the value is not a number")
        if not math.isfinite(value):
            raise ValueError(f"{item!r}: the value is not finite")
        writes.append((item[0], item[1], float(value)))
    return writes


# -- which nodes a federate runs ----------------------------------------------------------


def split_nodes(nodes: Sequence[str], federates: int) -> list[list[str]]:
    """``nodes`` in ``federates`` contiguous runs, the sizes differing by at most one."""
    if federates < 1:
        raise ValueError("at least one node federate")
    if federates > len(nodes):
        raise ValueError(f"{federates} federates for {len(nodes)} nodes: at most one per node")
    base, extra = divmod(len(nodes), federates)
    runs, at = [], 0
    for index in range(federates):
        size = base + (1 if index < extra else 0)
        runs.append(list(nodes[at : at + size]))
        at += size
    return runs


def select_nodes(
    site_nodes: Sequence[str], *, nodes: str | None, all_nodes: bool, part: str | None
) -> list[str]:
    """The nodes of ``--nodes a,b`` / ``--all`` / ``--slice I/N`` (exactly one of them)."""
    given = sum(x for x in (nodes is not None, all_nodes, part is not None))
    if given != 1:
        raise ValueError("give exactly one of --nodes a,b,..., --all or --slice I/N")
    if all_nodes:
        return list(site_nodes)
    if part is not None:
        index, _, count = part.partition("/")
        if not (index.isdigit() and count.isdigit()) or not 1 <= int(index) <= int(count):
            raise ValueError(f"--slice {part!r}: want I/N with 1 <= I <= N (e.g. 2/4)")
        return split_nodes(site_nodes, int(count))[int(index) - 1]
    assert nodes is not None
    wanted = [n.strip() for n in nodes.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in site_nodes]
    if unknown:
        raise ValueError(
            f"unknown node(s) {', '.join(unknown)}; the site's nodes: {', '.join(site_nodes)}"
        )
    if not wanted:
        raise ValueError("--nodes names no node")
    return wanted


# -- the runner file ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerSettings:
    config: str  # the site (or scenario) file, as the federates are to open it
    federates: int
    port: int
    core: str = "tcp"
    until_s: float = 10.0
    step_s: float = 0.01
    dgi: str = "dgi"  # how to start dgi (``python -m controller`` works too)
    record_dir: str | None = None  # each federate records there
    env: Mapping[str, str] | None = None
    name: str = "dgi-cosim"
    directory: str = "."  # where the federates run, relative to the runner file


def runner(settings: RunnerSettings, site_nodes: Sequence[str]) -> dict[str, object]:
    """The ``helics run`` document: the broker, the plant and the node federates."""
    s = settings
    if s.core not in ("tcp", "zmq"):
        raise ValueError(f"core {s.core!r}: tcp or zmq")
    broker = f"127.0.0.1:{s.port}"
    common = f"--config {shlex.quote(s.config)} --broker {broker} --core {s.core}"
    timing = f"--until {s.until_s:g} --step {s.step_s:g}"

    def record(name: str) -> str:
        if s.record_dir is None:
            return ""
        return " --record " + shlex.quote(f"{s.record_dir}/{name}.json")

    def entry(name: str, command: str) -> dict[str, object]:
        item: dict[str, object] = {"name": name, "directory": s.directory, "host": "localhost"}
        item["exec"] = command
        item["env"] = {"PYTHONUNBUFFERED": "1", **(s.env or {})}
        return item

    federates = [
        entry(
            "broker",
            f"helics_broker -t {s.core} -f {s.federates + 1} "
            f"--local_interface={broker} --loglevel=warning",
        ),
        entry("plant", f"{s.dgi} cosim-plant {common} {timing}{record('plant')}"),
    ]
    for index in range(1, s.federates + 1):
        part = f"{index}/{s.federates}"
        name = f"nodes{index}"
        command = f"{s.dgi} cosim-node {common} --slice {part} --name {name} {timing}"
        federates.append(entry(name, command + record(name)))
    split_nodes(site_nodes, s.federates)  # refuse a split that cannot be made, here
    return {"name": s.name, "federates": federates}  # the logs go next to the runner file
