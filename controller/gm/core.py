"""Group management: FREEDM's invitation election (Garcia-Molina, IEEE TC 1982), sans I/O.

Every node starts as the coordinator (leader) of a group of one. Each GM phase:

* a coordinator sends ``AreYouCoordinator`` to every other node of the site — a search for
  other coordinators and a heartbeat for its members. Members that do not answer within
  ``GM_AYC_RESPONSE_TIMEOUT`` leave its group. If other coordinators answered "yes", it waits
  by priority (below) and merges: a new group id, an ``Invite`` to those coordinators and its
  old members, ``Accept`` answers collected for ``GM_INVITE_RESPONSE_TIMEOUT``, then the
  ``PeerList`` to every member;
* a member sends ``AreYouThere`` to its coordinator; without a "yes" within
  ``GM_AYT_RESPONSE_TIMEOUT`` it starts over as a group of one (recovery) and, a coordinator
  now, looks for the others at once, in the same phase (FREEDM waited for the next one);
* a node invited while NORMAL joins (a coordinator forwards the invitation to its members)
  and answers ``Accept``; without the new leader's ``PeerList`` by ``GM_AYT_RESPONSE_TIMEOUT``
  into its next GM phase it recovers.

What this version fixes of FREEDM (docs/algorithm.md, "Group management"):

* group ids are ``node.epoch.counter`` — unique per node and boot (FREEDM's came from an
  unseeded ``rand()``, the same on every node);
* the priority rule is stated and tested: the lowest node id has the highest priority and
  merges at once; a coordinator with ``r`` coordinators of higher priority in sight waits
  ``PREMERGE_MIN + (r - 1) * step`` (capped at ``PREMERGE_MAX``), so the best-placed one
  invites first and the others, invited meanwhile, join instead of racing it;
* nothing a peer sends can crash the node: a peer list naming unknown nodes or leaving out
  its receiver, an answer nobody asked for, a stale group id — each is dropped and counted
  (``dropped``), and the sender of a ``PeerList`` is believed only as the leader this node
  accepted (the wire has authenticated it).

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

Timer keys carry an attempt number, so a timer from an earlier attempt (one the node core
kept for the next GM phase) does nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from config.timings import Timings
from config.topology import Topology
from controller.core.collected import Collected
from controller.core.effects import (
    CancelTimer,
    Effect,
    GroupChanged,
    Note,
    Send,
    ShowGroup,
    StartTimer,
    TimerKey,
)
from controller.core.group import Group
from controller.core.messages import Message
from controller.gm.messages import (
    Accept,
    AreYouCoordinator,
    AreYouCoordinatorResponse,
    AreYouThere,
    AreYouThereResponse,
    Invite,
    PeerList,
    fids_text,
    parse_fids,
)
from controller.gm.topology import reachable

NORMAL, ELECTION, REORGANIZATION = "normal", "election", "reorganization"
Handler = Callable[[str, Any, float, list[Effect]], None]


@dataclass(frozen=True)
class GmSettings:
    """FREEDM's GM timeouts, in seconds."""

    ayc_s: float = 0.14
    ayt_s: float = 0.14
    premerge_min_s: float = 0.09
    premerge_max_s: float = 0.18
    premerge_steps: int = 90
    invite_s: float = 0.21

    @classmethod
    def from_timings(cls, t: Timings) -> GmSettings:
        return cls(
            t.GM_AYC_RESPONSE_TIMEOUT / 1000,
            t.GM_AYT_RESPONSE_TIMEOUT / 1000,
            t.GM_PREMERGE_MIN_TIMEOUT / 1000,
            t.GM_PREMERGE_MAX_TIMEOUT / 1000,
            max(1, t.GM_PREMERGE_GRANULARITY),
            t.GM_INVITE_RESPONSE_TIMEOUT / 1000,
        )

    def premerge_wait(self, higher: int) -> float:
        """The wait before merging with ``higher`` coordinators of higher priority in sight."""
        if higher <= 0:
            return 0.0
        step = (self.premerge_max_s - self.premerge_min_s) / self.premerge_steps
        return min(self.premerge_max_s, self.premerge_min_s + (higher - 1) * step)


def priority_order(node_ids: Iterable[str]) -> list[str]:
    """Highest priority first: the lowest node id."""
    return sorted(node_ids)


class GroupManager:
    """One node's group management (module ``gm``, GM phase)."""

    name = "gm"
    phase = "gm"
    also: tuple[str, ...] = ()

    def __init__(
        self,
        node_id: str,
        nodes: Iterable[str],
        settings: GmSettings,
        *,
        epoch: int,
        topology: Topology | None = None,
    ) -> None:
        self.node_id = node_id
        self.nodes = frozenset(nodes) - {node_id}  # every other node of the site
        self.settings = settings
        self.epoch = epoch
        self.counter = 0
        self.status = NORMAL
        self.group = Group(self._new_id(), node_id, (node_id,))
        self.up: set[str] = set()  # members (not this node) while coordinator
        self.coordinators: set[str] = set()  # answered "yes" this check
        self.pending: set[str] = set()  # asked, not answered
        self.invited: tuple[str, str] | None = None  # (group id, leader) accepted
        self.forming: str | None = None  # the group id this coordinator invites to
        self.attempt = 0
        self.seq = 0
        self.elections = 0  # groups this node formed as leader
        self.recoveries = 0
        self.dropped: Counter[str] = Counter()  # reason -> inputs dropped
        self.topology = topology
        self.mine = topology.fids_of(node_id) if topology else frozenset()  # Fids it reads
        self.own: dict[str, bool] = {}  # its Fids' states (True: closed), from its readings
        self.reported: dict[str, dict[str, bool]] = {}  # node -> its latest Fid states
        self.handlers: dict[type[Message], Handler] = {
            AreYouCoordinator: self._on_ayc,
            AreYouCoordinatorResponse: self._on_ayc_response,
            AreYouThere: self._on_ayt,
            AreYouThereResponse: self._on_ayt_response,
            Invite: self._on_invite,
            Accept: self._on_accept,
            PeerList: self._on_peer_list,
        }

    @property
    def coordinator(self) -> bool:
        return self.group.leader == self.node_id

    def bits(self) -> int:
        """FREEDM's group bit field: bit 0 = this node leads; bit n = the n-th node of the
        site (ascending id, this one included, from 1) is in this node's group."""
        order = sorted(self.nodes | {self.node_id})
        members = set(self.group.members)
        field = int(self.coordinator)
        for n, node in enumerate(order, start=1):
            if node in members and n < 32:
                field |= 1 << n
        return field

    # -- the module -----------------------------------------------------------------------------

    def start_phase(self, now: float) -> list[Effect]:
        fx: list[Effect] = [ShowGroup(self.bits())]
        if self.status == REORGANIZATION:
            # invited last phase, no peer list yet: it may be on its way (the new leader
            # closes its invitation window at this phase's start too), so wait a little
            self.attempt += 1
            fx.append(StartTimer(("recovery", self.attempt), now + self.settings.ayt_s))
            return fx
        if self.status == ELECTION:  # the invitation window outlived the phase
            self._reorganize(now, fx)
        if self.coordinator:
            self._check(now, fx)
        else:
            self._ask_leader(now, fx)
        return fx

    def message(self, sender: str, message: Message, now: float) -> list[Effect]:
        fx: list[Effect] = []
        if sender not in self.nodes:
            self.dropped["unknown_sender"] += 1
            return fx
        self.handlers[type(message)](sender, message, now, fx)
        return fx

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        fx: list[Effect] = []
        kind, attempt = str(key[0]), int(key[1])
        if attempt != self.attempt:
            return fx  # from an earlier attempt
        if kind == "premerge":
            self._premerge(now, fx)
        elif kind == "merge":
            self._merge(now, fx)
        elif kind == "reorganize":
            self._reorganize(now, fx)
        elif kind == "recovery":
            self._recover(f"no answer from leader {self.group.leader}", now, fx)
            self._check(now, fx)  # a leader now: look for the others in this same phase
        return fx

    def group_changed(self, group: Group, now: float) -> list[Effect]:
        return []  # this module decides the group

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        return []

    def own_fids(self, states: Iterable[tuple[str, bool]]) -> None:
        """The states of this node's Fids (True: closed), from a round's readings; a Fid
        left out is unknown. Only the Fids of the topology count."""
        self.own = {fid: closed for fid, closed in states if fid in self.mine}

    # -- the physical topology ------------------------------------------------------------------

    def _learn(self, sender: str, text: str) -> None:
        """A node's report of its own Fids (the message was checked: well formed)."""
        if self.topology is None:
            return
        states = parse_fids(text)
        own = {f: s for f, s in states.items() if self.topology.fid_node.get(f) == sender}
        if len(own) != len(states):
            self.dropped["foreign_fids"] += 1  # a Fid that is not the sender's: ignored
        self.reported[sender] = own

    def _unreachable(self, nodes: set[str]) -> set[str]:
        """The nodes of ``nodes`` not reachable from this node through closed Fids."""
        if self.topology is None or not nodes:
            return set()
        states: dict[str, bool] = {}
        for reported in self.reported.values():
            states.update(reported)
        states.update(self.own)
        return nodes - reachable(self.topology, self.node_id, states)

    # -- coordinator ----------------------------------------------------------------------------

    def _check(self, now: float, fx: list[Effect]) -> None:
        """Look for other coordinators; every other node is asked (members too: heartbeat)."""
        self.attempt += 1
        self.coordinators.clear()
        self.pending = set(self.nodes)
        self.seq += 1
        for node in sorted(self.nodes):
            fx.append(Send(node, AreYouCoordinator(self.seq)))
        if self.pending:
            fx.append(StartTimer(("premerge", self.attempt), now + self.settings.ayc_s))
        else:
            self._premerge(now, fx)

    def _on_ayc(self, sender: str, msg: AreYouCoordinator, now: float, fx: list[Effect]) -> None:
        yes = int(self.status == NORMAL and self.coordinator)
        answer = AreYouCoordinatorResponse(
            msg.seq, yes, self.group.leader, self.group.id, fids_text(self.own)
        )
        fx.append(Send(sender, answer))

    def _on_ayc_response(
        self, sender: str, msg: AreYouCoordinatorResponse, now: float, fx: list[Effect]
    ) -> None:
        if msg.seq != self.seq or sender not in self.pending or not self.coordinator:
            self.dropped["unexpected_answer"] += 1
            return
        self.pending.discard(sender)
        self._learn(sender, msg.fids)
        if msg.yes:
            self.coordinators.add(sender)
            self.up.discard(sender)  # it leads a group of its own now
        elif msg.leader != self.node_id:
            self.up.discard(sender)  # it follows another leader
        if not self.pending and self.status == NORMAL:
            fx.append(CancelTimer(("premerge", self.attempt)))
            self._premerge(now, fx)

    def _premerge(self, now: float, fx: list[Effect]) -> None:
        """Drop the members that did not answer or are out of reach; merge with the other
        coordinators in reach, by priority."""
        if not self.coordinator or self.status != NORMAL:
            return
        for node in self.pending:
            self.reported.pop(node, None)  # no answer: its Fids are unknown now
        gone = self.up & self.pending
        far = self._unreachable(self.up - gone)
        self.coordinators -= self._unreachable(self.coordinators)
        if gone or far:
            self.up -= gone | far
            self._push(now, fx, _why(gone, far))
        self.pending.clear()
        if not self.coordinators:
            return
        order = priority_order([self.node_id, *self.coordinators])
        wait = self.settings.premerge_wait(order.index(self.node_id))
        if wait <= 0:
            self._merge(now, fx)
        else:
            fx.append(StartTimer(("merge", self.attempt), now + wait))

    def _merge(self, now: float, fx: list[Effect]) -> None:
        if not self.coordinator or self.status != NORMAL:
            return  # invited meanwhile
        self.status = ELECTION
        self.forming = self._new_id()
        invitees = sorted(self.coordinators | self.up)
        self.up = set()
        for node in invitees:
            fx.append(Send(node, Invite(self.forming, self.node_id)))
        fx.append(StartTimer(("reorganize", self.attempt), now + self.settings.invite_s))

    def _on_accept(self, sender: str, msg: Accept, now: float, fx: list[Effect]) -> None:
        if self.status != ELECTION or msg.group != self.forming:
            self.dropped["stale_group"] += 1
            return
        self._learn(sender, msg.fids)
        if self._unreachable({sender}):
            self.dropped["unreachable"] += 1
            return
        self.up.add(sender)

    def _reorganize(self, now: float, fx: list[Effect]) -> None:
        if self.status != ELECTION or self.forming is None:
            return
        self.status = NORMAL
        self.elections += 1
        self._push(now, fx, "new group", group_id=self.forming)
        self.forming = None

    def _push(self, now: float, fx: list[Effect], why: str, group_id: str | None = None) -> None:
        """This node's group as it now is, to every member and to the node's other modules."""
        group = Group.of(group_id or self.group.id, self.node_id, self.up)
        text = ",".join(group.members)
        for member in group.peers_of(self.node_id):
            fx.append(Send(member, PeerList(group.id, text)))
        self._set(group, why, fx)

    def _on_ayt(self, sender: str, msg: AreYouThere, now: float, fx: list[Effect]) -> None:
        self._learn(sender, msg.fids)
        mine = self.coordinator and self.status == NORMAL and sender in self.up
        if mine and self._unreachable({sender}):
            far = self._unreachable(self.up)  # every member out of reach leaves at once
            self.up -= far
            self._push(now, fx, _why(set(), far))
        yes = int(self.coordinator and msg.group == self.group.id and sender in self.up)
        fx.append(Send(sender, AreYouThereResponse(msg.seq, yes)))

    # -- member ---------------------------------------------------------------------------------

    def _ask_leader(self, now: float, fx: list[Effect]) -> None:
        self.attempt += 1
        self.seq += 1
        fx.append(
            Send(self.group.leader, AreYouThere(self.group.id, self.seq, fids_text(self.own)))
        )
        fx.append(StartTimer(("recovery", self.attempt), now + self.settings.ayt_s))

    def _on_ayt_response(
        self, sender: str, msg: AreYouThereResponse, now: float, fx: list[Effect]
    ) -> None:
        if sender != self.group.leader or msg.seq != self.seq or self.coordinator:
            self.dropped["unexpected_answer"] += 1
            return
        if msg.yes:
            fx.append(CancelTimer(("recovery", self.attempt)))
        else:
            self._recover(f"leader {sender} no longer counts this node in", now, fx)
            self._check(now, fx)

    def _on_invite(self, sender: str, msg: Invite, now: float, fx: list[Effect]) -> None:
        # from the inviting leader itself, or forwarded by this node's own leader (which
        # brings its group along); never from anyone else in another's name
        from_whom = sender in (msg.leader, self.group.leader) and sender != self.node_id
        if self.status != NORMAL or not from_whom or msg.leader == self.node_id:
            self.dropped["invite_ignored"] += 1
            return
        if self.coordinator:
            for member in sorted(self.up):  # bring the group along
                fx.append(Send(member, Invite(msg.group, msg.leader)))
            self.up = set()
        self.attempt += 1  # timers of the old role end here
        self.reported.clear()  # a member hears no reports: what it knew would only go stale
        self.status = REORGANIZATION
        self.invited = (msg.group, msg.leader)
        fx.append(Send(msg.leader, Accept(msg.group, fids_text(self.own))))

    def _on_peer_list(self, sender: str, msg: PeerList, now: float, fx: list[Effect]) -> None:
        members = msg.members.split(",")
        expected = self.invited if self.status == REORGANIZATION else None
        current = (self.group.id, self.group.leader)
        if (msg.group, sender) not in (expected, current):
            self.dropped["not_my_leader"] += 1
            return
        if not set(members) <= self.nodes | {self.node_id} or sender not in members:
            self.dropped["bad_peer_list"] += 1
            return
        if self.node_id not in members:
            self._recover(f"leader {sender} left this node out", now, fx)
            return
        self.status = NORMAL
        self.invited = None
        self._set(Group.of(msg.group, sender, members), "peer list", fx)

    # -- both -----------------------------------------------------------------------------------

    def _recover(self, why: str, now: float, fx: list[Effect]) -> None:
        """Start over as a group of one."""
        self.attempt += 1
        self.recoveries += 1
        self.status = NORMAL
        self.invited = self.forming = None
        self.up = set()
        self.coordinators.clear()
        self.pending.clear()
        self._set(Group(self._new_id(), self.node_id, (self.node_id,)), why, fx)

    def _set(self, group: Group, why: str, fx: list[Effect]) -> None:
        if group == self.group:
            return
        self.group = group
        text = f"group {group.id} led by {group.leader}: {', '.join(group.members)} ({why})"
        fx.append(Note("gm", text, {"group": group.id, "leader": group.leader}, "info"))
        fx.append(GroupChanged(group))

    def _new_id(self) -> str:
        self.counter += 1
        return f"{self.node_id}.{self.epoch}.{self.counter}"


def _why(gone: set[str], far: set[str]) -> str:
    """Why members left: no answer, or out of reach through closed Fids."""
    reasons = []
    if gone:
        reasons.append(f"{', '.join(sorted(gone))} did not answer")
    if far:
        reasons.append(f"{', '.join(sorted(far))} not reachable through closed Fids")
    return "; ".join(reasons)
