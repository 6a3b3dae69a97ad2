"""Which nodes are electrically connected: a search over the closed edges of the topology.

An edge is closed when every Fid guarding it is known to be closed (an edge without a Fid is
always closed); a Fid whose state is unknown counts as open, as in FREEDM. The nodes at the
vertices found from a node's own vertex are the nodes it can group with. The topology comes
from the site (:mod:`config.topology`); without one, every node can group with every other.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Mapping

from config.topology import Topology


def closed(topology: Topology, fid_states: Mapping[str, bool]) -> dict[str, set[str]]:
    """Each vertex's neighbours over the closed edges."""
    around: dict[str, set[str]] = defaultdict(set)
    for (a, b), fids in topology.edges.items():
        if all(fid_states.get(fid, False) for fid in fids):
            around[a].add(b)
            around[b].add(a)
    return around


def reachable(topology: Topology, from_node: str, fid_states: Mapping[str, bool]) -> set[str]:
    """The nodes reachable from ``from_node`` (itself included) through closed Fids;
    ``fid_states`` maps a Fid device id to True when it is closed."""
    start = topology.vertex_of.get(from_node)
    if start is None:
        return {from_node}
    around = closed(topology, fid_states)
    seen = {start}
    queue = deque([start])
    while queue:
        for vertex in around[queue.popleft()] - seen:
            seen.add(vertex)
            queue.append(vertex)
    return {node for node, vertex in topology.vertex_of.items() if vertex in seen} | {from_node}
