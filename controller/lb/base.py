"""The state a load balancer keeps, shared by its supply side, demand side and round.

PStar changes in one place, :meth:`LbState._set_pstar`, which records the change in the
command ledger (:mod:`controller.lb.ledger`) and asks for one write. The device's answer
comes back as :meth:`LbState.command_acked`; the read-back of every round is compared with
the acknowledged command by :meth:`LbState._reconcile`.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.collected import Collected, MemberState
from controller.core.effects import Effect, Note, Persist, SetPStar
from controller.core.readings import Readings, setpoint_for
from controller.lb.journal import Committed, Journal, Taken
from controller.lb.ledger import MIGRATIONS, Ledger
from controller.lb.load_table import PeerView
from controller.lb.rules import NORMAL
from controller.lb.settings import LbSettings
from controller.lb.transactions import (
    COMMITTED,
    PROVISIONAL,
    UNRESOLVED,
    DemandTx,
    SupplyTx,
)

#: float32 holds about 24 bits: a held setpoint this close (relative) is the written one.
FLOAT32_EPS = 2.0**-22


@dataclass(frozen=True)
class Disagreement:
    """The device holds ``held`` while the node acknowledged ``commanded`` (setpoints)."""

    held: float | None  # None: the command point reads "no value"
    commanded: float
    since: float


class LbState:
    """Fields and the helpers every part of the load balancer uses."""

    def __init__(self, node_id: str, settings: LbSettings, *, epoch: int) -> None:
        self.node_id = node_id
        self.settings = settings
        # the group, an input from group management (LoadBalancer.group_changed): alone
        # until the first one arrives
        self.group_id = ""
        self.peers: list[str] = []
        self.leader = node_id
        # FREEDM's peer sets: where the drafting algorithm keeps each peer (supply, demand,
        # normal) — its own bookkeeping, not the peer's current state (see peer_view)
        self.sets: dict[str, str] = {}
        self.collected: Collected | None = None  # the group's state (state collection)
        self.seen: dict[str, tuple[MemberState, float]] = {}  # peer -> its last, and when
        self.state = NORMAL
        self.readings = Readings()
        self.gateway = 0.0  # G
        self.net_generation = 0.0  # NG
        self.predicted = 0.0  # PG (adaptive: always the ledger's command)
        self.k = 0.0  # K
        self.synced = False
        self.ledger = Ledger()
        self.disagreement: Disagreement | None = None
        self.disagreements = 0  # episodes: a device that stopped holding the command
        self.write_failing = False  # the last write failed; cleared by an acknowledgement
        # supply side
        self.window = 0
        self.window_open = False
        self.solicited: set[str] = set()
        self.ages: dict[str, float] = {}
        self.tx_base = epoch << 20
        self.tx_count = 0
        self.supply_tx: dict[int, SupplyTx] = {}
        # demand side
        self.demand_tx: dict[tuple[str, int], DemandTx] = {}
        # tier 2 (controller.lb.tier): the other feeders' anchors this node may talk to
        # (empty: tier 2 is off) and its own feeder's, their delegates' latest announcements
        # (delegate -> need, when), this feeder's residual as collected this phase (None:
        # this node is not its delegate, or not yet) and what its transfers changed of it since
        self.tier_peers: frozenset[str] = frozenset()
        self.tier_anchors: frozenset[str] = frozenset()
        self.feeders: dict[str, tuple[float, float]] = {}
        self.feeder_residual: float | None = None
        self.tier_shift = 0.0
        # figures
        self.migrations_in = 0
        self.migrations_out = 0
        self.moved_in = 0.0
        self.moved_out = 0.0

    # -- the command ----------------------------------------------------------------------------

    def _set_pstar(
        self,
        kw: float,
        kind: str,
        now: float,
        fx: list[Effect],
        *,
        peer: str | None = None,
        tx: int | None = None,
    ) -> None:
        """SetPStar: the only place PStar changes; PG follows it, the ledger records it.

        FREEDM resets PG to the measured gateway at each synchronisation, so a migration
        there may start from a PG that is not the command: that difference is recorded as a
        ``resync`` adjustment first, and the migration as exactly its amount. A command the
        actuator cannot hold (beyond the SST's rating, the battery's limits) is clamped to
        what it can, and the difference recorded as a ``limit`` adjustment — never written
        as a value the device would refuse.
        """
        ledger = self.ledger
        if kind in MIGRATIONS and abs(self.predicted - ledger.command) > 1e-12:
            ledger.record("resync", self.predicted, self._setpoint(self.predicted), now)
        low, high = self.readings.pstar_min, self.readings.pstar_max
        held = min(high, max(low, kw))
        if kind in MIGRATIONS:
            entry = ledger.record(kind, kw, self._setpoint(kw), now, peer=peer, tx=tx)
            if held != kw:
                entry = ledger.record("limit", held, self._setpoint(held), now)
        else:
            entry = ledger.record(kind, held, self._setpoint(held), now, peer=peer, tx=tx)
        if held != kw:
            self._note(fx, "limit", f"PStar {kw:g} is beyond the actuator's {low:g}..{high:g}: "
                       f"commanding {held:g}", "warning", asked=kw, held=held)  # fmt: skip
        self.predicted = held
        fx.append(Persist("lb", self.journal(now).to_data()))  # before the write and the message
        fx.append(SetPStar(held, entry.seq, entry.setpoint))

    def journal(self, now: float) -> Journal:
        """What a restarted process must take up (:mod:`controller.lb.journal`)."""
        return Journal(
            self.node_id,
            now,
            self.ledger.command,
            self.ledger.setpoint,
            tuple(
                Committed(tx, r.peer, r.taken, r.started)
                for tx, r in self.supply_tx.items()
                if r.state == COMMITTED
            ),
            tuple(
                Taken(r.peer, r.tx, r.amount, r.started)
                for r in self.demand_tx.values()
                if r.state in (PROVISIONAL, UNRESOLVED)
            ),
        )

    def _write_again(self, kind: str, now: float, fx: list[Effect]) -> None:
        """Write the unchanged command once more (``reassert``, or ``track`` under storage
        actuation, whose setpoint follows generation and drain)."""
        command = self.ledger.command
        entry = self.ledger.record(kind, command, self._setpoint(command), now)
        fx.append(SetPStar(command, entry.seq, entry.setpoint))

    def _setpoint(self, pstar: float) -> float:
        return setpoint_for(pstar, self.readings)

    def command_sent(self, seq: int) -> None:
        """The write of ``seq`` is on its way to the device."""
        self.ledger.sent_seq = max(self.ledger.sent_seq, seq)

    def command_acked(self, seq: int, setpoint: float, mark: float) -> list[Effect]:
        """The device took the write of ledger entry ``seq`` (and every earlier one)."""
        self.ledger.acked(seq, setpoint, mark)
        self.write_failing = False
        return []

    def command_failed(self, seq: int, reason: str, now: float, *, refused: bool) -> list[Effect]:
        """The write of ``seq`` failed. A link error is written again by the runtime; the
        node does not offer or take drafts meanwhile. A write the device ``refused`` for its
        value (out of range) is never retried: the node goes back to what the device holds."""
        fx: list[Effect] = []
        self.write_failing = True
        ledger = self.ledger
        if refused and seq == ledger.seq > ledger.acked_seq and ledger.acked_pstar is not None:
            self._note(fx, "refused", f"the actuator refused setpoint entry {seq}: {reason}; "
                       f"keeping {ledger.acked_pstar:g}", "warning")  # fmt: skip
            self._set_pstar(ledger.acked_pstar, "limit", now, fx)
        return fx

    def _start(self, readings: Readings, now: float) -> None:
        """The command to start from: what the actuator holds, read back (acknowledged by
        the reading itself), or the measured gateway when its setpoint cannot be read."""
        if readings.pstar is not None and readings.setpoint is not None:
            pstar, setpoint = readings.pstar, readings.setpoint
        else:
            pstar, setpoint = readings.gateway, self._setpoint(readings.gateway)
        mark = readings.setpoint_read_mark
        self.ledger.start(pstar, setpoint, now, now if mark is None else mark)
        self.predicted = pstar

    def _tolerance(self, setpoint: float) -> float:
        resolution = self.readings.setpoint_resolution
        return max(self.settings.setpoint_tolerance, resolution, abs(setpoint) * FLOAT32_EPS)

    def _reconcile(self, now: float, fx: list[Effect]) -> None:
        """The device is the truth: compare its held setpoint with the acknowledged command
        (only with a read sent after the acknowledgement) and settle a disagreement by the
        configured policy — write the command again, or adopt the device's value. A device
        whose command point reads "no value" (1e8) after a reboot disagrees too."""
        readings, ledger = self.readings, self.ledger
        if not (readings.fresh and readings.setpoint_readable):
            return
        if not ledger.comparable(readings.setpoint_read_mark):
            return
        held, commanded = readings.setpoint, ledger.acked_setpoint
        assert commanded is not None
        if held is not None and abs(held - commanded) <= self._tolerance(commanded):
            if self.disagreement is not None:
                lasted = now - self.disagreement.since
                self._note(fx, "agreement", f"the actuator holds the command again after "
                           f"{lasted:.1f} s", held=held)  # fmt: skip
                self.disagreement = None
            self._track(now, fx)
            return
        first = self.disagreement is None
        if first:
            self.disagreements += 1
            self.disagreement = Disagreement(held, commanded, now)
        policy = self.settings.reconcile
        shown = "no value" if held is None else f"{held:g}"
        text = (
            f"the actuator holds {shown} but the node commanded {commanded:g} (a device "
            f"restart, a local override, its own fallback or a failsafe release); "
            + ("writing the command again" if policy == "reassert" else "adopting its value")
        )
        self._note(
            fx, "disagreement", text, "warning" if first else "debug",
            held=held, commanded=commanded, policy=policy,
        )  # fmt: skip
        if policy == "reassert" or readings.pstar is None:
            self._write_again("reassert", now, fx)
        else:
            self._set_pstar(readings.pstar, "adopt", now, fx)

    def _track(self, now: float, fx: list[Effect]) -> None:
        """Storage actuation: keep the battery at ``PStar - generation + drain`` as the
        generation and the drain change, so the export stays at the command (or as close as
        the battery's limits allow: a ``limit`` adjustment)."""
        if not self.readings.storage_actuated or self.ledger.pending:
            return
        command = self.ledger.command
        if not self.readings.pstar_min <= command <= self.readings.pstar_max:
            self._set_pstar(command, "limit", now, fx)
            return
        needed = self._setpoint(command)
        if abs(needed - self.ledger.setpoint) > self._tolerance(needed):
            self._write_again("track", now, fx)

    # -- what the node tells -------------------------------------------------------------------

    def peer_view(self, peer: str, now: float) -> PeerView:
        """The one view of a peer's state every display shows (load table, API, page): what
        it recorded for the last state collection that named it, and how long ago."""
        last = self.seen.get(peer)
        if last is None:
            return PeerView(None, None, True, None)
        member, received = last
        age = max(0.0, now - received)
        return PeerView(member.state, age, age > self.settings.peer_stale_s, member)

    def residual(self, now: float) -> float:
        """Σ (NG - PG) over this node and the group's other members as last collected (not
        stale): what migrations cannot balance because the group as a whole is in surplus
        (> 0) or deficit (< 0)."""
        own = self.net_generation - self.predicted
        views = [self.peer_view(p, now) for p in self.peers]
        heard = [v.status for v in views if v.status is not None and not v.stale]
        return own + sum(m.net_generation - m.predicted for m in heard)

    @staticmethod
    def _note(fx: list[Effect], kind: str, text: str, level: str = "info", **data: object) -> None:
        fx.append(Note(kind, text, data, level))

    def _from_tier(self, peer: str) -> bool:
        """Whether ``peer`` is another feeder's anchor, not a member of this node's group."""
        return peer in self.tier_peers and peer not in self.sets

    def _feeder_residual(self) -> float | None:
        """This feeder's residual now, when this node is its delegate this LB phase: as
        collected, moved by this node's tier-2 transfers since (None otherwise)."""
        if self.feeder_residual is None:
            return None
        return self.feeder_residual + self.tier_shift

    def _feeder_need(self) -> float:
        """What a transfer from another feeder may bring this one: its deficit (or 0)."""
        residual = self._feeder_residual()
        return 0.0 if residual is None else max(0.0, -residual)

    def _can_take(self) -> bool:
        """Fresh, trusted devices holding the command and taking writes, and not disabled by
        the Logger: the node may change its PStar for a peer (offer, select, take)."""
        return (
            self.readings.fresh
            and self.ledger.started
            and self.disagreement is None
            and not self.write_failing
            and self.readings.dgi_enable is not False
        )
