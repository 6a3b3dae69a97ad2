"""The supply side of the draft handshake: request, collect ages, select, settle."""

from __future__ import annotations

from controller.core.effects import CancelTimer, Effect, Send, StartTimer
from controller.lb import rules
from controller.lb.base import LbState
from controller.lb.messages import (
    DraftAbort,
    DraftAccept,
    DraftAge,
    DraftCommit,
    DraftRequest,
    DraftSelect,
    TooLate,
)
from controller.lb.rules import DEMAND, NORMAL, SUPPLY
from controller.lb.settings import QUANTUM
from controller.lb.transactions import ABORTED, COMMITTED, PENDING, SupplyTx


class SupplySide(LbState):
    def _request(self, now: float, fx: list[Effect]) -> None:
        """SendDraftRequest: to every known demand peer, if synchronised and the invariant holds."""
        demand = sorted(p for p, s in self.sets.items() if s == DEMAND)
        if not self._can_take():
            return  # a device that disagrees, a write that fails: offer nothing
        if not self.synced:
            self._note(fx, "request_cancelled", "draft request cancelled: state too old", "debug")
            return
        if not demand:
            return
        if not self._invariant_ok():
            self._note(fx, "invariant", "draft request cancelled: invariant false")
            return
        self.window += 1
        self.window_open = True
        self.ages = {}
        self.solicited = set(demand)
        for peer in demand:
            fx.append(Send(peer, DraftRequest(self.window)))
        fx.append(StartTimer(("window",), now + self.settings.request_timeout_s))
        self._note(
            fx,
            "request",
            f"draft request {self.window} to {', '.join(demand)}",
            "debug",
            window=self.window,
        )

    def _invariant_ok(self) -> bool:
        frequency = self.readings.frequency
        if not self.settings.check_invariant or frequency is None:
            return True
        return rules.invariant_holds(frequency, self.k, self.settings.step)

    def _on_age(self, sender: str, msg: DraftAge, now: float, fx: list[Effect]) -> None:
        if not self.settings.adaptive:
            self.ages[sender] = msg.age  # FREEDM: latest wins, no check of the window
            return
        if not self.window_open or msg.window != self.window or sender not in self.solicited:
            self._note(
                fx, "late_age", f"age from {sender} for window {msg.window} ignored", "debug"
            )
            return
        self.ages[sender] = msg.age
        if self.settings.early_close and self.solicited <= self.ages.keys():
            fx.append(CancelTimer(("window",)))
            self._draft_standard(now, fx)

    def _draft_standard(self, now: float, fx: list[Effect]) -> None:
        """The request window closed: choose whom to migrate to."""
        self.window_open = False
        if self.settings.adaptive:
            self._adaptive_select(now, fx)
            return
        ages = {p: a for p, a in self.ages.items() if p in self.sets}
        best, zeros = rules.freedm_selection(ages, self.settings.step)
        for peer in zeros:
            self.sets[peer] = NORMAL
        if best is not None and self.state == SUPPLY and self._can_take():
            step = self.settings.step
            # optimistic: before any answer (journaled and written before the peer is told)
            self._set_pstar(self.predicted + step, "supply", now, fx, peer=best, tx=0)
            fx.append(Send(best, DraftSelect(0, step)))
            self.k += step
            self._note(
                fx,
                "select",
                f"migrating {step:g} to {best}",
                "debug",
                peer=best,
                amount=step,
                tx=0,
                window=self.window,
            )

    def _adaptive_select(self, now: float, fx: list[Effect]) -> None:
        for peer, age in self.ages.items():
            if age < QUANTUM:
                self.sets[peer] = NORMAL
        if self.state != SUPPLY or not self._can_take():
            return
        reserved = sum(t.offered for t in self.supply_tx.values() if t.state == PENDING)
        plan = rules.adaptive_plan(
            {p: a for p, a in self.ages.items() if a >= QUANTUM},
            available=self.net_generation - self.predicted - reserved,
            headroom=self.readings.pstar_max - self.predicted - reserved,
            step_max=self.settings.step_max,
            smallest=QUANTUM,
            several=self.settings.multi_demand,
        )
        for peer, amount in plan:
            self._offer(peer, amount, now, fx)
        self._forget(now)

    def _offer(
        self, peer: str, amount: float, now: float, fx: list[Effect], *, tier: bool = False
    ) -> None:
        """One adaptive transaction: the select, its resend and its lease (a group peer's,
        or another feeder's leader's at tier 2: the same transaction)."""
        self.tx_count += 1
        tx = self.tx_base + self.tx_count
        self.supply_tx[tx] = SupplyTx(peer, amount, now, tier=tier)
        fx.append(Send(peer, DraftSelect(tx, amount)))
        fx.append(StartTimer(("resend", tx), now + self.settings.resend_s))
        fx.append(StartTimer(("lease", tx), now + self.settings.lease_s))
        self._note(
            fx,
            "select",
            f"offering {amount:g} to {peer} (tx {tx}{', tier 2' if tier else ''})",
            "debug",
            peer=peer,
            amount=amount,
            tx=tx,
            window=self.window,
            tier=tier,
        )

    def _resend_select(self, tx: int, now: float, fx: list[Effect]) -> None:
        record = self.supply_tx.get(tx)
        if record is not None and record.state == PENDING:
            fx.append(Send(record.peer, DraftSelect(tx, record.offered)))
            fx.append(StartTimer(("resend", tx), now + self.settings.resend_s))

    def _lease_over(self, tx: int, fx: list[Effect]) -> None:
        record = self.supply_tx.get(tx)
        if record is not None and record.state == PENDING:
            record.state = ABORTED
            fx.append(CancelTimer(("resend", tx)))
            self._note(
                fx, "abort", f"tx {tx} to {record.peer}: no answer within the lease; aborted"
            )

    def _on_accept(self, sender: str, msg: DraftAccept, now: float, fx: list[Effect]) -> None:
        if not self.settings.adaptive:
            self.k -= msg.amount  # FREEDM: the migration is complete
            self._count_out(sender, msg.amount, None, fx)
            return
        record = self.supply_tx.get(msg.tx)
        if record is None or record.peer != sender:
            fx.append(Send(sender, DraftAbort(msg.tx)))  # unknown: presumed aborted
            self._note(fx, "unknown_tx", f"accept for unknown tx {msg.tx} from {sender}", "warning")
        elif record.state == PENDING and not self._can_take():
            record.state = ABORTED  # disabled or stale since the offer: it cannot raise PStar
            fx.append(CancelTimer(("resend", msg.tx)))
            fx.append(CancelTimer(("lease", msg.tx)))
            fx.append(Send(sender, DraftAbort(msg.tx)))
            self._note(fx, "abort", f"tx {msg.tx} to {sender}: no longer able to act; aborted")
        elif record.state == PENDING and msg.amount <= record.offered:
            record.state, record.taken = COMMITTED, msg.amount
            self._set_pstar(self.predicted + msg.amount, "supply", now, fx, peer=sender, tx=msg.tx)
            if record.tier:
                self.tier_shift -= msg.amount  # this feeder exports it now
            fx.append(CancelTimer(("resend", msg.tx)))
            fx.append(CancelTimer(("lease", msg.tx)))
            fx.append(Send(sender, DraftCommit(msg.tx)))
            self._count_out(sender, msg.amount, msg.tx, fx)
        elif record.state == COMMITTED:
            fx.append(Send(sender, DraftCommit(msg.tx)))
        else:  # aborted already, or more taken than offered
            if record.state == PENDING:
                record.state = ABORTED
                text = f"{sender} took {msg.amount:g} of {record.offered:g} offered; aborted"
                self._note(fx, "invalid", text, "warning")
            fx.append(Send(sender, DraftAbort(msg.tx)))

    def _count_out(self, peer: str, amount: float, tx: int | None, fx: list[Effect]) -> None:
        self.migrations_out += 1
        self.moved_out += amount
        text = f"migration: {amount:.3f} kW out to {peer}" + (f" (tx {tx})" if tx else "")
        self._note(fx, "migration", text, role="supply", peer=peer, amount=amount, tx=tx)

    def _on_too_late(self, sender: str, msg: TooLate, now: float, fx: list[Effect]) -> None:
        if not self.settings.adaptive:
            # roll the optimistic step back
            self._set_pstar(self.predicted - msg.amount, "rollback", now, fx, peer=sender)
            self.k -= msg.amount
            self._note(fx, "too_late", f"{sender} refused {msg.amount:g}; rolled back")
            return
        record = self.supply_tx.get(msg.tx)
        if record is not None and record.peer == sender and record.state == PENDING:
            record.state = ABORTED
            fx.append(CancelTimer(("resend", msg.tx)))
            fx.append(CancelTimer(("lease", msg.tx)))
            self._note(fx, "too_late", f"{sender} refused tx {msg.tx}", "debug")

    def _forget(self, now: float) -> None:
        """Drop decided transactions older than the retention time (memory stays bounded)."""
        horizon = now - self.settings.retention_s
        self.supply_tx = {
            tx: r for tx, r in self.supply_tx.items() if r.state == PENDING or r.started >= horizon
        }
