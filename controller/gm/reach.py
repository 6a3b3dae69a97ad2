"""What a coordinator knows of the Fid switches, and who it can reach through them (pure).

**Physical topology** (optional, ``[site] topology_file``; FREEDM's ``CPhysicalTopology``):
a coordinator keeps in its group, and invites, only the nodes reachable from its own vertex
over edges whose every Fid is known closed (:mod:`controller.gm.topology`; unknown = open).
It knows its own Fids' states from its readings (:meth:`GroupManager.own_fids`, fed each
round by the node core) and the others' from their answers: every ``AreYouCoordinatorResponse``,
``AreYouThere`` and ``Accept`` carries the sender's own Fid states (a node is believed only
about the Fids the site gives it). The latest report of each node counts; a node that did not
answer this check's ``AreYouCoordinator`` is forgotten (its Fids unknown). So:

* at the premerge of each check, a member that is no longer reachable leaves the group (the
  new ``PeerList`` goes out at once) and an unreachable coordinator is not merged with;
* a member whose ``AreYouThere`` shows it unreachable leaves at once (with every other member
  out of reach) and is answered "no", so it starts over alone in the same GM phase;
* an ``Accept`` from an unreachable node is not taken (dropped, ``unreachable``);
* with the Fids closed again, it answers "yes" as a coordinator of its own and is invited
  back at the next check.

Without a topology every node is reachable and nothing of this applies.
"""

from __future__ import annotations

from collections.abc import Iterable

from config.topology import Topology
from controller.gm.messages import parse_fids
from controller.gm.topology import reachable


class Reach:
    """This node's Fids' states and the latest reported by each other node."""

    def __init__(self, node_id: str, topology: Topology | None) -> None:
        self.node_id = node_id
        self.topology = topology
        self.mine = topology.fids_of(node_id) if topology else frozenset()  # Fids it reads
        self.own: dict[str, bool] = {}  # its Fids' states (True: closed), from its readings
        self.reported: dict[str, dict[str, bool]] = {}  # node -> its latest Fid states

    def own_fids(self, states: Iterable[tuple[str, bool]]) -> None:
        """From a round's readings; a Fid left out is unknown. Only the topology's count."""
        self.own = {fid: closed for fid, closed in states if fid in self.mine}

    def learn(self, sender: str, text: str) -> bool:
        """A node's report of its own Fids (the message was checked: well formed); False
        when it named Fids that are not its own (those are ignored)."""
        if self.topology is None:
            return True
        states = parse_fids(text)
        own = {f: s for f, s in states.items() if self.topology.fid_node.get(f) == sender}
        self.reported[sender] = own
        return len(own) == len(states)

    def forget(self, node: str) -> None:
        self.reported.pop(node, None)

    def forget_all(self) -> None:
        self.reported.clear()

    def unreachable(self, nodes: set[str]) -> set[str]:
        """The nodes of ``nodes`` not reachable from this node through closed Fids."""
        if self.topology is None or not nodes:
            return set()
        states: dict[str, bool] = {}
        for reported in self.reported.values():
            states.update(reported)
        states.update(self.own)
        return nodes - reachable(self.topology, self.node_id, states)
