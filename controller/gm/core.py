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

Each question is asked again every ``CSRC_RESEND_TIME`` while its answer is due — the
``AreYouCoordinator`` to the nodes that have not answered, the ``AreYouThere``, the
``Invite`` to the invitees that have not accepted (an invited node answers a repeated
invitation with its ``Accept`` again) — as FREEDM's sequenced-reliable protocol resent its
messages. Without it one lost datagram in a GM exchange tore a group apart.

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

**Physical topology** (optional, ``[site] topology_file``): a coordinator keeps in its group,
and invites, only the nodes reachable through closed Fids (:mod:`controller.gm.reach`).

Timer keys carry an attempt number, so a timer from an earlier attempt (one the node core
kept for the next GM phase) does nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

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
)
from controller.gm.reach import Reach
from controller.gm.settings import GmSettings, priority_order

NORMAL, ELECTION, REORGANIZATION = "normal", "election", "reorganization"
Handler = Callable[[str, Any, float, list[Effect]], None]


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
        self.invitees: set[str] = set()
        self.answered = False  # a member's AreYouThere got its "yes"
        self.due = 0.0  # until when the current question is asked again
        self.attempt = 0
        self.seq = 0
        self.elections = 0  # groups this node formed as leader
        self.recoveries = 0
        self.dropped: Counter[str] = Counter()  # reason -> inputs dropped
        self.reach = Reach(node_id, topology)
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

    def keeps(self, message: Message, waited_s: float) -> bool:
        """An invitation kept for this phase is over once its window is (the inviter has
        formed its group without this node); the rest is judged by sequence numbers and
        group ids, and a peer list that came late is what an invited node waits for."""
        return not (isinstance(message, Invite) and waited_s > self.settings.invite_s)

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
        if kind == "again":
            self._ask_again(now, fx)
        elif kind == "premerge":
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
        """The states of this node's Fids (True: closed), from a round's readings."""
        self.reach.own_fids(states)

    def _learn(self, sender: str, text: str) -> None:
        if not self.reach.learn(sender, text):
            self.dropped["foreign_fids"] += 1  # a Fid that is not the sender's: ignored

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
            self._again_until(now + self.settings.ayc_s, now, fx)
        else:
            self._premerge(now, fx)

    def _again_until(self, due: float, now: float, fx: list[Effect]) -> None:
        """Ask the current question again every resend time until ``due``."""
        self.due = due
        if now + self.settings.resend_s < due:
            fx.append(StartTimer(("again", self.attempt), now + self.settings.resend_s))

    def _ask_again(self, now: float, fx: list[Effect]) -> None:
        """The question of this attempt once more, to whoever has not answered it."""
        if self.coordinator and self.status == NORMAL:
            for node in sorted(self.pending):
                fx.append(Send(node, AreYouCoordinator(self.seq)))
        elif self.coordinator and self.status == ELECTION and self.forming is not None:
            for node in sorted(self.invitees - self.up):
                fx.append(Send(node, Invite(self.forming, self.node_id)))
        elif not self.coordinator and self.status == NORMAL and not self.answered:
            fx.append(Send(self.group.leader, AreYouThere(self.group.id, self.seq,
                                                          fids_text(self.reach.own))))  # fmt: skip
        else:
            return
        self._again_until(self.due, now, fx)

    def _on_ayc(self, sender: str, msg: AreYouCoordinator, now: float, fx: list[Effect]) -> None:
        yes = int(self.status == NORMAL and self.coordinator)
        answer = AreYouCoordinatorResponse(
            msg.seq, yes, self.group.leader, self.group.id, fids_text(self.reach.own)
        )
        fx.append(Send(sender, answer))

    def _on_ayc_response(
        self, sender: str, msg: AreYouCoordinatorResponse, now: float, fx: list[Effect]
    ) -> None:
        if msg.seq == self.seq and sender not in self.pending and self.coordinator:
            return  # a second answer, to the question asked again
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
            self.reach.forget(node)  # no answer: its Fids are unknown now
        gone = self.up & self.pending
        far = self.reach.unreachable(self.up - gone)
        self.coordinators -= self.reach.unreachable(self.coordinators)
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
        self.invitees = self.coordinators | self.up
        self.up = set()
        for node in sorted(self.invitees):
            fx.append(Send(node, Invite(self.forming, self.node_id)))
        fx.append(StartTimer(("reorganize", self.attempt), now + self.settings.invite_s))
        self._again_until(now + self.settings.invite_s, now, fx)

    def _on_accept(self, sender: str, msg: Accept, now: float, fx: list[Effect]) -> None:
        if self.status != ELECTION or msg.group != self.forming:
            self.dropped["stale_group"] += 1
            return
        self._learn(sender, msg.fids)
        if self.reach.unreachable({sender}):
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
        if mine and self.reach.unreachable({sender}):
            far = self.reach.unreachable(self.up)  # every member out of reach leaves at once
            self.up -= far
            self._push(now, fx, _why(set(), far))
        yes = int(self.coordinator and msg.group == self.group.id and sender in self.up)
        fx.append(Send(sender, AreYouThereResponse(msg.seq, yes)))

    # -- member ---------------------------------------------------------------------------------

    def _ask_leader(self, now: float, fx: list[Effect]) -> None:
        self.attempt += 1
        self.seq += 1
        self.answered = False
        fx.append(
            Send(self.group.leader, AreYouThere(self.group.id, self.seq, fids_text(self.reach.own)))
        )
        fx.append(StartTimer(("recovery", self.attempt), now + self.settings.ayt_s))
        self._again_until(now + self.settings.ayt_s, now, fx)

    def _on_ayt_response(
        self, sender: str, msg: AreYouThereResponse, now: float, fx: list[Effect]
    ) -> None:
        if sender != self.group.leader or msg.seq != self.seq or self.coordinator:
            self.dropped["unexpected_answer"] += 1
            return
        if msg.yes:
            self.answered = True
            fx.append(CancelTimer(("recovery", self.attempt)))
        else:
            self._recover(f"leader {sender} no longer counts this node in", now, fx)
            self._check(now, fx)

    def _on_invite(self, sender: str, msg: Invite, now: float, fx: list[Effect]) -> None:
        # from the inviting leader itself, or forwarded by this node's own leader (which
        # brings its group along); never from anyone else in another's name
        from_whom = sender in (msg.leader, self.group.leader) and sender != self.node_id
        if self.status == REORGANIZATION and (msg.group, msg.leader) == self.invited:
            fx.append(Send(msg.leader, Accept(msg.group, fids_text(self.reach.own))))
            return  # invited again: the Accept may have been lost
        if self.status != NORMAL or not from_whom or msg.leader == self.node_id:
            self.dropped["invite_ignored"] += 1
            return
        if self.coordinator:
            for member in sorted(self.up):  # bring the group along
                fx.append(Send(member, Invite(msg.group, msg.leader)))
            self.up = set()
        self.attempt += 1  # timers of the old role end here
        self.reach.forget_all()  # a member hears no reports: what it knew would only go stale
        self.status = REORGANIZATION
        self.invited = (msg.group, msg.leader)
        fx.append(Send(msg.leader, Accept(msg.group, fids_text(self.reach.own))))

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
