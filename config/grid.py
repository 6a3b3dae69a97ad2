"""The ``[grid]`` table: the feeder behind the substations when ``[simulation] plant =
"pandapower"`` (schema, and what can be known of a network without pandapower).

``network`` is ``"cigre-mv"`` (pandapower's CIGRE medium-voltage benchmark with all its DER),
``"mv-oberrhein"`` (a real 179-bus German MV feeder) or a pandapower JSON file
(``pp.to_json``; relative to the site file). ``buses`` maps a node to a bus, by index or by
name; the nodes it leaves out are spread over the network's feeder buses (:func:`bus_map`).
``kw_scale`` is network kW per device kW (a demo substation of tens of kW stands for a
street of them, so that it moves a 20 kV feeder's voltage); ``load_scale`` multiplies the
network's own loads and generators (the CIGRE base case sits at 0.953 pu, at the alert).

The bus tables of the shipped networks are in ``networks.json`` (regenerate it with
``python -m simulators.grid`` where pandapower is installed); a JSON file's are read from the
file itself, so the loader checks bus names without importing pandapower.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from config.settings import BUILTIN_NETWORKS, GridSettings

__all__ = ["BUILTIN_NETWORKS", "GridSettings", "NetworkError", "NetworkInfo", "bus_map"]

NETWORKS_FILE = Path(__file__).with_name("networks.json")


class NetworkError(ValueError):
    """A network file that cannot be read as a pandapower network."""


@dataclass(frozen=True)
class NetworkInfo:
    """A network's buses (index -> name), its slack buses (an external grid) and the
    high-voltage sides of its transformers: the feeder buses are the others."""

    buses: dict[int, str]
    slack: frozenset[int]
    hv: frozenset[int]

    def bus(self, ref: int | str) -> int | None:
        """The index of a bus given by index or name (None: no such bus)."""
        if isinstance(ref, int):
            return ref if ref in self.buses else None
        for index, name in self.buses.items():
            if name == ref:
                return index
        return None

    @property
    def feeder_buses(self) -> list[int]:
        return sorted(b for b in self.buses if b not in self.slack and b not in self.hv)

    def describe(self) -> str:
        indices = sorted(self.buses)
        return f"{len(indices)} buses, {indices[0]}..{indices[-1]}" if indices else "no buses"


def bus_map(info: NetworkInfo, nodes: list[str], given: dict[str, int | str]) -> dict[str, int]:
    """Each node's bus: the one ``given`` (by index or name), else an even spread in site
    order over the feeder buses not given to another node (node i of n takes the bus at
    ``(2i + 1) / 2n`` of the way along them, by index). Deterministic; raises ``KeyError``
    for an unknown bus (check with the loader first)."""
    fixed = {}
    for node, ref in given.items():
        index = info.bus(ref)
        if index is None:
            raise KeyError(f"node {node}: no bus {ref!r} in the network ({info.describe()})")
        fixed[node] = index
    rest = [n for n in nodes if n not in fixed]
    free = [b for b in info.feeder_buses if b not in fixed.values()] or info.feeder_buses
    spread = {
        node: free[((2 * i + 1) * len(free)) // (2 * len(rest))] for i, node in enumerate(rest)
    }
    return {node: fixed.get(node, spread.get(node, -1)) for node in nodes}


def network_path(network: str, site_dir: Path) -> Path | None:
    """The JSON file of a network (None: a shipped network)."""
    if network in BUILTIN_NETWORKS:
        return None
    path = Path(network)
    return path if path.is_absolute() else site_dir / path


def _frame(tables: dict[str, Any], name: str) -> tuple[list[Any], list[str], list[list[Any]]]:
    frame = tables.get(name)
    if frame is None:
        return [], [], []
    body = json.loads(frame["_object"]) if isinstance(frame.get("_object"), str) else frame
    return list(body.get("index", [])), list(body.get("columns", [])), list(body.get("data", []))


def _column(tables: dict[str, Any], table: str, column: str) -> list[Any]:
    _, columns, data = _frame(tables, table)
    if column not in columns:
        return []
    at = columns.index(column)
    return [row[at] for row in data]


def read_network_file(path: Path) -> NetworkInfo:
    """The buses of a pandapower JSON file (``pp.to_json``), without pandapower."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NetworkError(f"not a pandapower network: {exc}") from exc
    if not isinstance(document, dict) or document.get("_class") != "pandapowerNet":
        raise NetworkError("not a pandapower network (a file written by pandapower.to_json)")
    try:
        tables = document["_object"]
        index, columns, data = _frame(tables, "bus")
        at = columns.index("name") if "name" in columns else None
        buses = {
            int(i): str(row[at]) if at is not None and row[at] is not None else str(i)
            for i, row in zip(index, data, strict=True)
        }
        slack = frozenset(int(b) for b in _column(tables, "ext_grid", "bus"))
        hv = frozenset(int(b) for b in _column(tables, "trafo", "hv_bus"))
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise NetworkError(
            f"not a pandapower network: its bus table cannot be read ({exc})"
        ) from exc
    if not buses:
        raise NetworkError("not a pandapower network: it has no buses")
    return NetworkInfo(buses, slack, hv)


@cache
def builtin_network(name: str) -> NetworkInfo:
    entry = json.loads(NETWORKS_FILE.read_text(encoding="utf-8"))[name]
    return NetworkInfo(
        {int(i): str(n) for i, n in entry["buses"]},
        frozenset(entry["slack"]),
        frozenset(entry["hv"]),
    )


def network_info(network: str, site_dir: Path) -> NetworkInfo:
    path = network_path(network, site_dir)
    return builtin_network(network) if path is None else read_network_file(path)


Problem = tuple[tuple[str | int, ...], str, object]


def grid_problems(raw: dict[str, Any], nodes: list[str], site_dir: Path) -> list[Problem]:
    """What is wrong with a ``[grid]`` table beyond its shape: each as (where, rule, value)
    for the loader — a network file not found or not a pandapower network, a node that is
    not the site's, a bus the network has not, a bus given to two nodes."""
    problems: list[Problem] = []
    network = raw.get("network", GridSettings.model_fields["network"].default)
    if not isinstance(network, str) or not (
        network in BUILTIN_NETWORKS or network.endswith(".json")
    ):
        return problems  # the schema reports it
    info: NetworkInfo | None = None
    path = network_path(network, site_dir)
    if path is not None and not path.is_file():
        problems.append(((("grid", "network")), f"network file not found: {path}", network))
    else:
        try:
            info = network_info(network, site_dir)
        except NetworkError as exc:
            problems.append(((("grid", "network")), f"{path}: {exc}", network))
    buses = raw.get("buses")
    if not isinstance(buses, dict):
        return problems
    taken: dict[int, str] = {}
    for node, ref in buses.items():
        where = ("grid", "buses", node)
        if node not in nodes:
            problems.append(
                (where, f"no node {node!r} in the site; nodes: {', '.join(nodes)}", ref)
            )
            continue
        if info is None or not isinstance(ref, (int, str)) or isinstance(ref, bool):
            continue
        index = info.bus(ref)
        if index is None:
            rule = f"no bus {ref!r} in network {network} ({info.describe()}, or their names)"
            problems.append((where, rule, ref))
        elif index in taken:
            problems.append(
                (where, f"bus {index} is given to two nodes ({taken[index]}, {node})", ref)
            )
        else:
            taken[index] = node
    return problems
