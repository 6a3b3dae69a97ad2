"""The load-balancing core: FREEDM's distributed drafting algorithm, sans I/O.

Each node compares its net generation ``NG`` with its gateway (the power it exports to the
shared bus): a node with surplus is SUPPLY, one short of power is DEMAND. Demand nodes announce
themselves every round (StateChange). A synchronised supply node sends DraftRequest to every
demand node it knows, collects DraftAge answers (the need) for a request window, then selects:

* ``freedm`` — FREEDM 2.0.1 exactly: the state rule uses the measured ``G`` and a dead band of
  one ``step``; the window runs its full length; the neediest peer gets exactly ``step``; the
  supply raises its PStar at once (optimistic) and rolls back on TooLate.
* ``adaptive`` — sized migrations (``min(step_max, surplus, need)``), the predicted gateway
  ``PG`` in the state rule with ``tolerance`` as dead band, early close of the window, several
  demand peers per round, and transactions (see :mod:`controller.lb.transactions`).

Invariants: ``PG`` is the gateway this node has commanded; every PStar change goes through
``_set_pstar``. ``K`` (gross power flow) is reset at each synchronisation and moved by
migrations in flight. In adaptive mode a node never commands PStar outside the actuator's
limits (``Readings.pstar_min..pstar_max``): a migration is sized down or refused instead.

The supply and demand halves live in :mod:`controller.lb.supply` and
:mod:`controller.lb.demand`; this module holds the round and the message dispatch. Inputs are
:meth:`LoadBalancer.start_phase`, :meth:`~LoadBalancer.round`, :meth:`~LoadBalancer.message`
and :meth:`~LoadBalancer.timer`, each with ``now``; outputs are effects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.core.collected import Collected, MemberState
from controller.core.effects import BROADCAST, Effect, Send, StartTimer, TimerKey
from controller.core.group import Group
from controller.core.messages import Message
from controller.core.readings import Readings
from controller.lb import rules
from controller.lb.demand import DemandSide
from controller.lb.journal import Journal
from controller.lb.load_table import load_table, shown_state
from controller.lb.messages import (
    DraftAbort,
    DraftAccept,
    DraftAge,
    DraftCommit,
    DraftRequest,
    DraftSelect,
    FeederState,
    StateChange,
    TooLate,
)
from controller.lb.rules import DEMAND, NORMAL, SUPPLY
from controller.lb.settings import LbSettings
from controller.lb.tier import TierSide
from controller.lb.transactions import COMMITTED, DemandTx, SupplyTx

Handler = Callable[[str, Any, float, list[Effect]], None]


#: what a tier peer (another feeder's anchor) may send: its announcement and transactions
TIER_MESSAGES = (FeederState, DraftSelect, DraftAccept, TooLate, DraftCommit, DraftAbort)


class LoadBalancer(TierSide, DemandSide):
    """One node's load balancer (both modes)."""

    name = "lb"  # its message namespace (controller.core.module)
    phase = "lb"
    also: tuple[str, ...] = ()

    def __init__(self, node_id: str, settings: LbSettings, *, epoch: int = 0) -> None:
        super().__init__(node_id, settings, epoch=epoch)
        self.rounds = 0
        self.phases = 0
        self.rounds_lost = 0  # rounds that could have drafted but had no collected state
        self._unused = False  # ``collected`` arrived since the last synchronisation
        self._journal: Journal | None = None  # a previous process's, until taken up
        self._stale_journal: float | None = None  # the age of one too old to take up
        self._sync_due = False
        self._enabled = True
        self._table_states: tuple[str, ...] = ()
        self._table_at = -1e18
        self._stale: tuple[str, ...] = ()
        self.handlers: dict[type[Message], Handler] = {
            StateChange: self._on_state_change,
            DraftRequest: self._on_request,
            DraftAge: self._on_age,
            DraftSelect: self._on_select,
            DraftAccept: self._on_accept,
            TooLate: self._on_too_late,
            DraftCommit: self._on_commit,
            DraftAbort: self._on_abort,
            FeederState: self._on_feeder_state,
        }
        self.timers: dict[str, Callable[[TimerKey, float, list[Effect]], None]] = {
            "window": lambda key, now, fx: self._draft_standard(now, fx),
            "resend": lambda key, now, fx: self._resend_select(int(key[1]), now, fx),
            "lease": lambda key, now, fx: self._lease_over(int(key[1]), fx),
            "confirm": lambda key, now, fx: self._repeat_accept(str(key[1]), int(key[2]), now, fx),
        }

    # -- inputs -----------------------------------------------------------------------------------

    def keeps(self, message: Message, waited_s: float) -> bool:
        return True  # the transactions' own timers and ids judge what is late

    def start_phase(self, now: float) -> list[Effect]:
        """A new LB phase: the next round synchronises, from the state collected in the SC
        phase before it (or, when it comes late, at the first round after it arrives)."""
        self.phases += 1
        self.synced = False
        self.feeder_residual = None  # tier 2: until this phase's synchronisation
        self._sync_due = True
        return []

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        """The group's state as its leader collected it this cycle (of this node's group:
        state collection takes it only from the current leader for the current group)."""
        self.collected = collected
        self._unused = collected.group_id == self.group_id
        for node, member in collected.members.items():
            if node != self.node_id:
                self.seen[node] = (member, collected.received)
        return []

    def restore(self, journal: Journal, now: float) -> None:
        """A previous process's journal. Its transactions count at once — a peer that asks
        about one before the first fresh round gets the right answer — and its command is
        taken up at the first fresh round, once the ledger starts from what the device
        holds. One older than the peers' memory of their decisions is not taken up."""
        age = now - journal.written
        if not -self.settings.retention_s <= age <= self.settings.retention_s:
            self._stale_journal = age
            return
        for c in journal.committed:
            self.supply_tx[c.tx] = SupplyTx(c.peer, c.amount, c.started, COMMITTED, c.amount)
        for t in journal.taken:
            self.demand_tx[(t.peer, t.tx)] = DemandTx(t.peer, t.tx, t.amount, t.started)
        self._journal = journal

    def local_state(self) -> MemberState:
        """What this node records of itself for a snapshot (its last round)."""
        has_sst = self.readings.count("Sst") > 0
        return MemberState(
            self.state,
            self.gateway if has_sst else None,
            self.net_generation,
            self.predicted,
        )

    def group_changed(self, group: Group, now: float) -> list[Effect]:
        """A new group from group management. As FREEDM does on a new peer list, the peer
        sets start over (every peer NORMAL; demand is relearnt from the next broadcasts),
        what was heard of peers that left is forgotten, and the node drafts again after the
        next phase's synchronisation. Transactions with a peer that left end by their own timers."""
        peers = list(group.peers_of(self.node_id))
        if (group.id, group.leader, peers) == (self.group_id, self.leader, self.peers):
            return []
        if group.id != self.group_id:  # nothing collected in another group counts here
            self._unused = False
        self.group_id, self.leader, self.peers = group.id, group.leader, peers
        self.sets = dict.fromkeys(peers, NORMAL)
        self.feeder_residual = None  # tier 2: the delegate is chosen again at the next sync
        self.seen = {p: v for p, v in self.seen.items() if p in peers}
        self.synced = False  # until the next phase's synchronisation
        return []

    def round(self, readings: Readings, now: float) -> list[Effect]:
        """FREEDM's LoadManage: read, update state, print, then act if enabled."""
        fx: list[Effect] = []
        self.rounds += 1
        self.readings = readings
        self.gateway, self.net_generation = readings.gateway, readings.net_generation
        if not self.ledger.started and readings.fresh:
            self._start(readings, now)
            self._take_up(now, fx)
        if self._sync_due and readings.fresh and self._unused:
            self._synchronise(now, fx)
        self._reconcile(now, fx)
        self._update_state(fx)
        self._print_table(now, fx)
        self._note_freshness(readings, fx)
        if not readings.fresh:
            return fx
        if not self._check_enabled(now, fx):
            return fx
        if not self.synced:
            self.rounds_lost += 1
        if self.state == DEMAND:
            fx.append(Send(BROADCAST, StateChange(DEMAND)))
        if self.state == SUPPLY:
            self._request(now, fx)
        return fx

    def message(self, sender: str, message: Message, now: float) -> list[Effect]:
        """A validated message from a group peer. A decision about an amount this node took
        waits until its ledger has started (a restarted node's first fresh round): the supply
        repeats it when asked again."""
        fx: list[Effect] = []
        if not self.ledger.started and isinstance(message, DraftCommit | DraftAbort):
            return fx
        if sender in self.sets or (
            sender in self.tier_peers and isinstance(message, TIER_MESSAGES)
        ):
            self.handlers[type(message)](sender, message, now, fx)
        return fx

    def timer(self, key: TimerKey, now: float) -> list[Effect]:
        fx: list[Effect] = []
        self.timers[str(key[0])](key, now, fx)
        return fx

    # -- the round --------------------------------------------------------------------------------

    def _take_up(self, now: float, fx: list[Effect]) -> None:
        """The previous process's journal: its command again, its committed transactions
        remembered, the amounts it took without a decision asked about again."""
        journal, self._journal = self._journal, None
        if self._stale_journal is not None:
            self._note(fx, "journal", f"the journal is {self._stale_journal:.0f} s old, beyond "
                       f"the {self.settings.retention_s:g} s peers remember their decisions: "
                       "starting from what the device holds", "warning")  # fmt: skip
            self._stale_journal = None
        if journal is None:
            return
        age = now - journal.written
        for t in journal.taken:
            fx.append(StartTimer(("confirm", t.peer, t.tx), now))
        held = self.ledger.command
        if abs(journal.command - held) > self._tolerance(journal.setpoint):
            self._set_pstar(journal.command, "restore", now, fx)
        self._note(fx, "journal", f"took up the journal of {age:.1f} s ago: command "
                   f"{journal.command:g} (the device held {held:g}), {len(journal.committed)} "
                   f"committed transaction(s), {len(journal.taken)} open", command=journal.command,
                   held=held)  # fmt: skip

    def _note_freshness(self, readings: Readings, fx: list[Effect]) -> None:
        """Stale or recovering devices, on edges only."""
        key = (*readings.stale, "(recovering)") if readings.recovering else readings.stale
        if key == self._stale:
            return
        self._stale = key
        if readings.stale:
            text, level = f"devices stale: {', '.join(readings.stale)}; not drafting", "warning"
        elif readings.recovering:
            text, level = "devices answer again; not trusted until they keep answering", "info"
        else:
            text, level = "devices fresh", "info"
        self._note(fx, "stale", text, level)

    def _synchronise(self, now: float, fx: list[Effect]) -> None:
        """K from the collected gateways; FREEDM also resets PG (docs/algorithm.md, "K and
        the PG reset").

        FREEDM resets PG to the measured gateway — but only from a reading sent after the
        device acknowledged the last write, never an older one. Adaptive mode keeps PG: it
        is the ledger's command, which no reading changes (docs/algorithm.md).
        """
        if not self.settings.adaptive:
            if not self.ledger.comparable(self.readings.gateway_read_mark):
                return  # a write is in flight, or this reading predates it: next round
            self.predicted = self.gateway
        assert self.collected is not None
        assert self.collected.group_id == self.group_id
        self._sync_due = self._unused = False
        self.k = self.collected.k
        self.synced = True
        self._note(
            fx, "sync", f"synchronised: PG = {self.predicted:.3f}, K = {self.k:.3f}", "debug"
        )
        self._tier_sync(fx, now)

    @property
    def band(self) -> float:
        """The dead band of the state rule.

        FREEDM: one step. Adaptive: ``tolerance / (N - 1)``. A smaller band than the tolerance
        is what guarantees every node ends within it: when no SUPPLY/DEMAND pair is left, each
        node's surplus is the sum of the others' needs, at most ``(N - 1) * band``.
        """
        if not self.settings.adaptive:
            return self.settings.step
        return self.settings.tolerance / max(1, len(self.peers))

    def _update_state(self, fx: list[Effect]) -> None:
        basis = self.predicted if self.settings.adaptive else self.gateway
        band = self.band
        has_sst = self.readings.count("Sst") > 0 and self.readings.fresh
        new = rules.state_of(self.net_generation, basis, band, has_sst)
        if new != self.state:
            text = (
                f"state {self.state.upper()} -> {new.upper()} "
                f"(NG {self.net_generation:.3f}, {'PG' if self.settings.adaptive else 'G'} "
                f"{basis:.3f} kW)"
            )
            self._note(fx, "state", text, old=self.state, new=new)
            self.state = new

    def _print_table(self, now: float, fx: list[Effect]) -> None:
        """The load table: at once when a state in it changes, else every ``table_every_s``.

        (FREEDM printed it every round; with a lagging plant or a noisy meter the figures
        change every round, and ten tables a second bury everything else in the log.) The
        peers' states are what they last said of themselves (:meth:`peer_view`).
        """
        peers = {p: self.peer_view(p, now) for p in self.peers}
        states = (self.state, *(shown_state(peers[p]) for p in self.peers))
        if states == self._table_states and now - self._table_at < self.settings.table_every_s:
            return
        self._table_states, self._table_at = states, now
        table = load_table(
            self.readings, node_id=self.node_id, state=self.state, k=self.k, peers=peers
        )
        self._note(fx, "load_table", table)

    def _check_enabled(self, now: float, fx: list[Effect]) -> bool:
        """Logger gating: dgiEnable != 1 holds the SST where it is (SetPStar(G))."""
        enabled = self.readings.dgi_enable is not False
        if enabled != self._enabled:
            self._enabled = enabled
            self._note(
                fx, "enable", "enabled by the Logger" if enabled else "disabled by the Logger"
            )
        if not enabled:
            self._set_pstar(self.gateway, "hold", now, fx)
        return enabled

    # -- everyone ---------------------------------------------------------------------------------

    def _on_state_change(self, sender: str, msg: StateChange, now: float, fx: list[Effect]) -> None:
        self.sets[sender] = msg.state
