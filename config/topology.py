"""A site's physical topology: FREEDM's ``topology.cfg``, read and checked against the site.

One statement per line, ``#`` starts a comment::

    edge A B           # vertices A and B are joined (undirected)
    sst A sst1         # node sst1 sits at vertex A
    fid A B sst1-east  # the Fid device sst1-east guards edge A B

An edge may be guarded by several Fids (it is closed only when every one of them is), and a
Fid may guard several edges; an edge without a Fid is always closed. Every node of the site
sits at exactly one vertex; Fids are devices of type ``Fid`` of the site, each read by the node
it belongs to. Group management keeps in a group only the nodes reachable through closed Fids
(:mod:`controller.gm.topology`). Problems are reported as ``topology.cfg:LINE: ...``, all at
once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from config.errors import ConfigIssue, display_path
from config.files import special_file_problem

#: The longest list of one node's Fid states a group-management message carries.
MAX_FIDS_TEXT = 4096
MAX_FILE_BYTES = 1 << 20
_FORMS = "a line is edge V1 V2, sst VERTEX NODE or fid V1 V2 DEVICE"
_FIELDS = {"edge": 3, "sst": 3, "fid": 4}
_USAGE = {
    "edge": "takes two vertices: edge V1 V2",
    "sst": "takes a vertex and a node id: sst VERTEX NODE",
    "fid": "takes two vertices and a Fid device id: fid V1 V2 DEVICE",
}

Edge = tuple[str, str]

#: A group's collected state travels in one datagram of at most this many bytes
#: (``controller/peer/envelope.py``); see :func:`collected_bytes`.
DATAGRAM_BYTES = 8192


def edge(a: str, b: str) -> Edge:
    """The edge between two vertices, the same whichever way round they are named."""
    return (a, b) if a <= b else (b, a)


@dataclass(frozen=True)
class Topology:
    """Vertices joined by edges, the Fids guarding each edge and the vertex of each node."""

    vertex_of: Mapping[str, str]  # node id -> its vertex
    edges: Mapping[Edge, frozenset[str]]  # edge -> the Fids guarding it (none: always closed)
    fid_node: Mapping[str, str]  # Fid device id -> the node that reads it
    file: str = ""

    def fids_of(self, node_id: str) -> frozenset[str]:
        """The Fids of the topology that ``node_id`` reads."""
        return self._fids_by_node.get(node_id, frozenset())

    def around(self, nodes: Collection[str]) -> Topology:
        """The part of the topology joined to ``nodes`` by any edge, open or closed (their
        feeder): what group management needs among them, without the rest of a large site."""
        adjacent: dict[str, list[str]] = {}
        for a, b in self.edges:
            adjacent.setdefault(a, []).append(b)
            adjacent.setdefault(b, []).append(a)
        seen = {self.vertex_of[n] for n in nodes if n in self.vertex_of}
        todo = list(seen)
        while todo:
            for other in adjacent.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return Topology(
            {n: v for n, v in self.vertex_of.items() if v in seen},
            {e: f for e, f in self.edges.items() if e[0] in seen},
            {f: n for f, n in self.fid_node.items() if self.vertex_of.get(n) in seen},
            self.file,
        )

    @cached_property
    def _fids_by_node(self) -> dict[str, frozenset[str]]:
        """Each node's Fids, found once (every node of a 5 000-node site asks)."""
        found: dict[str, set[str]] = {}
        for fid, node in self.fid_node.items():
            found.setdefault(node, set()).add(fid)
        return {node: frozenset(fids) for node, fids in found.items()}


@dataclass
class _Parser:
    file: str
    nodes: Collection[str]
    devices: Mapping[str, tuple[str, str]]  # device id -> (type, node id)
    issues: list[ConfigIssue]

    def __post_init__(self) -> None:
        self.edge_line: dict[Edge, int] = {}
        self.vertex_of: dict[str, tuple[str, int]] = {}
        self.fids: list[tuple[Edge, str, int, str]] = []  # (edge, fid, line, text)

    def add(self, line: int | None, path: str, rule: str, value: object) -> None:
        self.issues.append(ConfigIssue(self.file, path, rule, value, line=line))

    def statement(self, number: int, text: str) -> None:
        words = text.split()
        keyword = words[0]
        if keyword not in _FIELDS:
            self.add(number, "line", f"unknown keyword {keyword!r}; {_FORMS}", text)
        elif len(words) != _FIELDS[keyword]:
            self.add(number, keyword, _USAGE[keyword], text)
        elif keyword == "edge":
            self._edge(number, text, words[1], words[2])
        elif keyword == "sst":
            self._sst(number, words[1], words[2])
        else:
            self.fids.append((edge(words[1], words[2]), words[3], number, text))

    def _edge(self, number: int, text: str, a: str, b: str) -> None:
        if a == b:
            self.add(number, "edge", "an edge joins two different vertices", text)
        elif edge(a, b) in self.edge_line:
            first = self.edge_line[edge(a, b)]
            self.add(number, "edge", f"duplicate edge (also line {first})", text)
        else:
            self.edge_line[edge(a, b)] = number

    def _sst(self, number: int, vertex: str, node: str) -> None:
        if node not in self.nodes:
            known = ", ".join(sorted(self.nodes))
            self.add(number, "sst", f"no such node in the site; nodes: {known}", node)
        elif node in self.vertex_of:
            at, line = self.vertex_of[node]
            self.add(number, "sst", f"node already at vertex {at} (line {line})", node)
        else:
            self.vertex_of[node] = (vertex, number)

    def finish(self) -> Topology:
        """The fid lines (an edge may be named after its Fids) and the nodes left out."""
        guards: dict[Edge, dict[str, int]] = {e: {} for e in self.edge_line}
        for at, fid, number, text in self.fids:
            kind, _ = self.devices.get(fid, (None, ""))
            if at not in guards:
                self.add(number, "fid", f"no edge {at[0]} {at[1]} (add an edge line)", text)
            elif kind is None:
                self.add(number, "fid", "no such device in the site", fid)
            elif kind != "Fid":
                self.add(number, "fid", f"device {fid} is a {kind}, not a Fid", fid)
            elif fid in guards[at]:
                self.add(number, "fid", f"already guards this edge (line {guards[at][fid]})", fid)
            else:
                guards[at][fid] = number
        for node in sorted(set(self.nodes) - set(self.vertex_of)):
            rule = "node has no vertex: every node of the site needs an sst line"
            self.add(None, "sst", rule, node)
        fid_node = {fid: self.devices[fid][1] for found in guards.values() for fid in found}
        topology = Topology(
            {node: vertex for node, (vertex, _) in self.vertex_of.items()},
            {e: frozenset(found) for e, found in guards.items()},
            fid_node,
            self.file,
        )
        for node in sorted(set(fid_node.values())):
            text = ",".join(f"{fid}=1" for fid in sorted(topology.fids_of(node)))
            if len(text) > MAX_FIDS_TEXT:
                rule = f"the node's Fids do not fit in a GM message ({MAX_FIDS_TEXT} characters)"
                self.add(None, "fid", rule, node)
        return topology


def parse_topology(
    text: str, file: str, nodes: Collection[str], devices: Mapping[str, tuple[str, str]]
) -> tuple[Topology, list[ConfigIssue]]:
    """Parse a topology (pure); ``devices`` maps each device id of the site to its (type,
    node). Every problem is returned; the topology is usable only when there is none."""
    parser = _Parser(file, frozenset(nodes), devices, [])  # a set: 5 000 nodes are looked up
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line:
            parser.statement(number, line)
    topology = parser.finish()
    return topology, sorted(parser.issues, key=lambda i: i.line or 1 << 30)


def read_topology(
    path: Path, nodes: Collection[str], devices: Mapping[str, tuple[str, str]]
) -> tuple[Topology | None, list[ConfigIssue]]:
    """Read and parse the topology file at ``path``."""
    shown = display_path(path)
    problem = special_file_problem(path)  # a FIFO would block the reader
    if problem is not None:
        return None, [ConfigIssue(shown, "", f"topology file {problem}")]
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, [ConfigIssue(shown, "", f"topology file cannot be read: {exc.strerror}")]
    if len(data) > MAX_FILE_BYTES:
        rule = f"topology file is larger than {MAX_FILE_BYTES} bytes"
        return None, [ConfigIssue(shown, "", rule)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, [ConfigIssue(shown, "", "topology file is not UTF-8 text")]
    topology, issues = parse_topology(text, shown, nodes, devices)
    return (None if issues else topology), issues


def collected_bytes(members: Collection[str]) -> int:
    """A slightly high estimate of the sealed size of a group's collected state: about 81
    bytes per member (its state name and nine numbers, each msgpack float 9 bytes) plus its
    id, and the envelope (measured: 100 members named ``n1..n100`` take 8513 bytes)."""
    return 200 + sum(83 + len(member.encode()) for member in members)


def groups_too_large(nodes: Collection[str], topology: Topology | None) -> list[tuple[str, ...]]:
    """The largest groups the site can form — its topology's components, or every node
    without one — whose collected state cannot fit in one datagram (they would never
    balance: every receiver drops it), each sorted."""
    if topology is None:
        cells = [sorted(nodes)]
    else:
        cells, placed = [], set()
        for node in sorted(nodes):
            if node not in placed:
                members = sorted(n for n in topology.around([node]).vertex_of if n in nodes)
                placed.update(members)
                cells.append(members or [node])
    return [tuple(c) for c in cells if collected_bytes(c) > DATAGRAM_BYTES]
