"""A node without I/O: the wire stage, its modules and FREEDM's phase discipline.

The core routes each accepted datagram to the module of its message's namespace, each timer to
the module named by its key's first element, and each phase start to the modules of that
phase (:mod:`controller.core.module`). A module's messages and timers that arrive in another
phase are kept and handed to it, in order, when its next phase starts (as FREEDM's broker
did). Datagrams are authenticated and counted on arrival, whatever the phase. The group — who
``BROADCAST`` reaches and what every module balances with — is an input: from group
management when it runs (a ``GroupChanged`` effect), else the static group it is built with
(:func:`controller.assembly.build_core`). The group's collected state (a ``StateCollected``
effect of state collection) goes to every other module the same way; what a node records of
itself for a snapshot is :meth:`NodeCore.local_state`.

The core also watches for a node id used by two processes at once (two boot epochs heard
together): the wire quarantines that id (:mod:`controller.peer.wire`), the core sends it
nothing but a ``DuplicateId`` notice (every ``twin_quiet_s``), reports it, and a node told so
reports it too. Both reports clear by themselves once one of the two processes stops.

A core built ``plain`` (virtual time, :mod:`controller.peer.posted`) posts its messages
unsealed — a ``Post`` per peer where another core has a ``Transmit`` — and takes posted
messages in :meth:`NodeCore.deliver`; after the wire's header checks they go the same way as
an opened datagram (counted, last seen, delay, routed or kept for their phase).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.collected import Collected, MemberState
from controller.core.effects import (
    BROADCAST,
    Answer,
    CancelTimer,
    Effect,
    GroupChanged,
    Note,
    Post,
    Send,
    StartTimer,
    StateCollected,
    TimerKey,
    Transmit,
)
from controller.core.group import Group
from controller.core.messages import DuplicateId
from controller.core.module import Module
from controller.core.readings import Readings
from controller.core.stats import Recent
from controller.ev.module import EvModule
from controller.gm.core import GroupManager
from controller.lb.core import LoadBalancer
from controller.lb.messages import DraftAccept, DraftSelect
from controller.peer.posted import Posted
from controller.peer.wire import Dropped, Inbound, Wire


@dataclass
class NodeCore:
    """Datagrams, readings, timers and phase changes in; effects out, sent as ``Transmit``
    (as ``Post``, unsealed, when ``plain``).

    ``lb`` is also the module that takes the rounds' readings and the actuator's reports;
    ``modules`` holds every module by name, ``lb`` included.
    """

    lb: LoadBalancer
    wire: Wire
    group: Group
    modules: dict[str, Module] = field(default_factory=dict)
    phase: str | None = None
    # module -> its messages and timers kept for its phase, each with when it arrived
    deferred: dict[str, list[tuple[Inbound | TimerKey, float]]] = field(default_factory=dict)
    last_seen: dict[str, float] = field(default_factory=dict)  # peer -> last accepted datagram
    delay_ms: dict[str, float] = field(default_factory=dict)  # peer -> age of its last datagram
    recent: Recent = field(default_factory=Recent)  # datagram results of the last 30 s
    twins: dict[str, tuple[int, int]] = field(default_factory=dict)  # peers heard twice
    # reporter -> (the other process's epoch, when it last said so)
    twin_of_me: dict[str, tuple[int, float]] = field(default_factory=dict)
    _told: dict[str, float] = field(default_factory=dict)
    _logged: set[tuple[str | None, str]] = field(default_factory=set)
    plain: bool = False  # post messages unsealed (the plain channel of virtual time)

    def __post_init__(self) -> None:
        self.modules.setdefault(self.lb.name, self.lb)
        for module in self.modules.values():
            module.group_changed(self.group, 0.0)

    @property
    def node_id(self) -> str:
        return self.lb.node_id

    @property
    def ev(self) -> EvModule | None:
        """The EV charging module (None: the node takes no charging requests)."""
        ev = self.modules.get("ev")
        return ev if isinstance(ev, EvModule) else None

    # -- inputs ---------------------------------------------------------------------------------

    def phase_started(self, phase: str, now: float) -> list[Effect]:
        self.phase = phase
        fx: list[Effect] = []
        for module in self.modules.values():
            if module.phase != phase:
                continue
            fx += self._from(module, module.start_phase(now), now)
            for item, arrived in self.deferred.pop(module.name, []):
                if isinstance(item, Inbound):
                    if not module.keeps(item.message, now - arrived):
                        self.recent.add("outlived", now)
                        continue
                    fx += self._from(module, module.message(item.sender, item.message, now), now)
                else:
                    fx += self._from(module, module.timer(item, now), now)
        return self._out(fx, now)

    def round(self, readings: Readings, now: float) -> list[Effect]:
        gm = self.modules.get("gm")
        if isinstance(gm, GroupManager):  # its Fids' states, for the physical topology
            gm.own_fids(readings.fids)
        lb = self._from(self.lb, self.lb.round(readings, now), now)
        ev = self.ev
        if ev is not None:
            lb += self._from(ev, ev.observe(readings.drain - readings.charging, now), now)
        return self._out(self._watch_twins(now) + lb, now)

    def charge(self, token: int, body: Mapping[str, object] | None, now: float) -> list[Effect]:
        """A charging request from the API (any phase); answered by an ``Answer``."""
        ev = self.ev
        if ev is None:
            return [Answer(token, 404, {"error": f"{self.node_id} takes no charging requests"})]
        return self._out(self._from(ev, ev.charge(token, body, now), now), now)

    def restore_sessions(
        self, stored: Mapping[str, Mapping[str, object]], now: float
    ) -> list[Effect]:
        """The charging sessions the previous process of this node booked."""
        ev = self.ev
        if ev is None:
            return []
        return self._out(self._from(ev, ev.restore(stored, now), now), now)

    def end_session(self, token: int, session_id: str, now: float) -> list[Effect]:
        ev = self.ev
        if ev is None:
            return [Answer(token, 404, {"error": f"{self.node_id} holds no charging sessions"})]
        return self._out(self._from(ev, ev.end_session(token, session_id, now), now), now)

    def command_sent(self, seq: int) -> None:
        """The actuator sent the write of ledger entry ``seq`` (any phase: device I/O)."""
        self.lb.command_sent(seq)

    def command_acked(self, seq: int, setpoint: float, mark: float, now: float) -> list[Effect]:
        """The actuator acknowledged ledger entry ``seq`` (any phase: device I/O); ``mark``
        orders it against reads (``Readings.setpoint_read_mark``)."""
        return self._out(self._from(self.lb, self.lb.command_acked(seq, setpoint, mark), now), now)

    def command_failed(self, seq: int, reason: str, now: float, *, refused: bool) -> list[Effect]:
        """The actuator's write of ``seq`` failed (``refused``: for its value, for good)."""
        fx = self.lb.command_failed(seq, reason, now, refused=refused)
        return self._out(self._from(self.lb, fx, now), now)

    def datagram(self, data: bytes, now: float) -> list[Effect]:
        return self._inbound(self.wire.open(data, now), now)

    def deliver(self, posted: Posted, now: float) -> list[Effect]:
        """A message posted by a ``plain`` peer: the wire checks its header, then it goes
        where an opened datagram goes."""
        return self._inbound(self.wire.take(posted, now), now)

    def _inbound(self, result: Inbound | Dropped, now: float) -> list[Effect]:
        if isinstance(result, Dropped):
            self.recent.add(result.reason, now)
            return [self._dropped(result)]
        self.recent.add("accepted", now)
        self.last_seen[result.sender] = now
        self.delay_ms[result.sender] = result.age_ms
        if isinstance(result.message, DuplicateId):
            return self._told_twin(result.sender, result.message, now)
        module = self.modules.get(result.message.namespace)
        if module is None:  # a module this node does not run (a newer peer's)
            kind = type(result.message).__name__
            return [Note("unrouted", f"{kind} from {result.sender}: no module for it", {}, "debug")]
        if not self._running(module):
            self.deferred.setdefault(module.name, []).append((result, now))
            return []
        fx = module.message(result.sender, result.message, now)
        return self._out(self._from(module, fx, now), now)

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        module = self.modules[str(key[0])]
        local = key[1:]
        if not self._running(module):
            self.deferred.setdefault(module.name, []).append((local, now))
            return []
        return self._out(self._from(module, module.timer(local, now), now), now)

    def local_state(self) -> MemberState:
        """What this node records of itself for a snapshot: the load balancer's state as of
        its last round, and the migrations in its channels — draft offers and acceptances
        that arrived after its LB phase ended, kept for the next one."""
        moving = [
            item.message.amount
            for item, _ in self.deferred.get(self.lb.name, [])
            if isinstance(item, Inbound) and isinstance(item.message, DraftSelect | DraftAccept)
        ]
        mine = self.lb.local_state()
        ev = self.ev
        view = ev.view(ev.seen_at) if ev is not None else None
        return MemberState(
            mine.state,
            mine.gateway,
            mine.net_generation,
            mine.predicted,
            sum(moving),
            len(moving),
            *((view.capacity_kw, view.load_kw, view.trend, view.at) if view else ()),
        )

    # -- between the modules --------------------------------------------------------------------

    def _running(self, module: Module) -> bool:
        return self.phase == module.phase or self.phase in module.also

    def _from(self, module: Module, effects: list[Effect], now: float) -> list[Effect]:
        """A module's effects as the node's: timer keys prefixed with the module's name, a new
        group handed to every other module."""
        out: list[Effect] = []
        for effect in effects:
            if isinstance(effect, StartTimer):
                out.append(StartTimer((module.name, *effect.key), effect.at))
            elif isinstance(effect, CancelTimer):
                out.append(CancelTimer((module.name, *effect.key)))
            elif isinstance(effect, GroupChanged):
                out += self._regroup(module, effect.group, now)
            elif isinstance(effect, StateCollected):
                out += self._collected(module, effect.collected, now)
            else:
                out.append(effect)
        return out

    def _regroup(self, source: Module, group: Group, now: float) -> list[Effect]:
        """The new group to every other module (group management logs the change)."""
        self.group = group
        fx: list[Effect] = []
        for module in self.modules.values():
            if module is not source:
                fx += self._from(module, module.group_changed(group, now), now)
        return fx

    def _collected(self, source: Module, collected: Collected, now: float) -> list[Effect]:
        fx: list[Effect] = []
        for module in self.modules.values():
            if module is not source:
                fx += self._from(module, module.state_collected(collected, now), now)
        return fx

    def _watch_twins(self, now: float) -> list[Effect]:
        """Report a peer id heard from two processes, tell that node (every quiet time), and
        report when it clears; forget reports about this node that are no longer repeated."""
        fx: list[Effect] = []
        quiet = self.wire.twin_quiet_s
        found = self.wire.twins(now)
        for peer, (a, b) in found.items():
            if peer not in self.twins:
                text = f"node id {peer} is used by two processes (boot epochs {a} and {b})"
                fx.append(Note("duplicate_id", text, {"peer": peer, "epochs": [a, b]}, "error"))
            if now - self._told.get(peer, -1e18) >= quiet:
                self._told[peer] = now
                fx.append(Send(peer, DuplicateId(a, b)))
        for peer in set(self.twins) - set(found):
            fx.append(Note("duplicate_id", f"node id {peer} is used by one process again",
                           {"peer": peer}))  # fmt: skip
        self.twins = found
        for reporter, (_, when) in list(self.twin_of_me.items()):
            if now - when > 2 * quiet:
                del self.twin_of_me[reporter]
                fx.append(Note("duplicate_id", f"{reporter} no longer hears this id twice"))
        return fx

    def _told_twin(self, sender: str, message: DuplicateId, now: float) -> list[Effect]:
        mine = self.wire.epoch
        if mine not in (message.epoch_a, message.epoch_b):
            return []  # about the other process, which may be this one's twin
        other = message.epoch_b if mine == message.epoch_a else message.epoch_a
        first = sender not in self.twin_of_me
        self.twin_of_me[sender] = (other, now)
        if not first:
            return []
        text = (
            f"{sender} hears this node's id ({self.node_id}) from another process too (boot "
            f"epoch {other}): stop the process that should not run as {self.node_id}"
        )
        return [Note("duplicate_id", text, {"reporter": sender, "epoch": other}, "error")]

    def _out(self, effects: list[Effect], now: float) -> list[Effect]:
        """Seal every ``Send`` (post it, when ``plain``); a broadcast is sealed once and sent
        to each peer. Nothing but a ``DuplicateId`` goes to a quarantined peer."""
        out: list[Effect] = []
        quarantined = self.wire.quarantined
        for effect in effects:
            if not isinstance(effect, Send):
                out.append(effect)
            elif effect.to == BROADCAST:
                peers = self.group.peers_of(self.node_id)
                out += self._send(effect, [p for p in peers if p not in quarantined], now)
            elif effect.to not in quarantined or isinstance(effect.message, DuplicateId):
                out += self._send(effect, [effect.to], now)
        return out

    def _send(self, send: Send, peers: list[str], now: float) -> list[Effect]:
        """One datagram (or one posted message) for ``send.to``, handed to each of ``peers``."""
        if self.plain:
            posted = self.wire.post(send.to, send.message, now)
            return [Post(peer, posted) for peer in peers]
        data = self.wire.seal(send.to, send.message, now)
        return [Transmit(peer, data) for peer in peers]

    def _dropped(self, drop: Dropped) -> Note:
        """Logged once per claimed sender and reason; always counted by the wire."""
        key = (drop.sender, drop.reason)
        first = key not in self._logged
        self._logged.add(key)
        text = f"dropped datagram from {drop.sender or 'unknown sender'}: {drop.detail}"
        return Note(
            "drop",
            text,
            {"reason": drop.reason, "sender": drop.sender},
            "warning" if first else "debug",
        )
