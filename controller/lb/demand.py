"""The demand side of the draft handshake: answer requests, accept or refuse drafts."""

from __future__ import annotations

from controller.core.effects import CancelTimer, Effect, Persist, Send, StartTimer
from controller.core.messages import Message
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
from controller.lb.rules import DEMAND, SUPPLY
from controller.lb.settings import QUANTUM
from controller.lb.transactions import ABORTED, FINAL, PROVISIONAL, REFUSED, UNRESOLVED, DemandTx


class DemandSide(LbState):
    def _on_request(self, sender: str, msg: DraftRequest, now: float, fx: list[Effect]) -> None:
        self.sets[sender] = SUPPLY
        fx.append(Send(sender, DraftAge(msg.window, self._age())))

    def _age(self) -> float:
        """The need: G - NG in FREEDM, PG - NG within the actuator's room in adaptive mode."""
        if self.state != DEMAND or not self._can_take():
            return 0.0
        if not self.settings.adaptive:
            return self.gateway - self.net_generation
        room = self.predicted - self.readings.pstar_min
        return max(0.0, min(self.predicted - self.net_generation, room))

    def _on_select(self, sender: str, msg: DraftSelect, now: float, fx: list[Effect]) -> None:
        if self.settings.malicious:
            self._note(fx, "malicious", f"dropping DraftSelect from {sender}", "debug")
        elif self.settings.adaptive:
            self._take(sender, msg, now, fx)
        elif self._can_take() and self.net_generation <= self.predicted - msg.amount:
            # (FREEDM accepted a select whatever its devices did since it answered its age)
            self._set_pstar(self.predicted - msg.amount, "demand", now, fx, peer=sender, tx=msg.tx)
            fx.append(Send(sender, DraftAccept(msg.tx, msg.amount)))
            self._note_accept(sender, msg.tx, msg.amount, fx)
            self._count_in(sender, msg.amount, None, fx)
        else:
            fx.append(Send(sender, TooLate(msg.tx, msg.amount)))

    def _take(self, sender: str, msg: DraftSelect, now: float, fx: list[Effect]) -> None:
        """Adaptive: accept what is needed (maybe less than offered), provisionally."""
        key = (sender, msg.tx)
        record = self.demand_tx.get(key)
        if record is not None:  # a repeat: the same answer again, never a second change
            fx.append(Send(sender, self._answer(record)))
            return
        take = 0.0
        tier = self._from_tier(sender)
        if self._can_take():
            need = self._feeder_need() if tier else self.predicted - self.net_generation
            room = self.predicted - self.readings.pstar_min
            take = rules.quantize(min(msg.amount, need, room))
        if take < QUANTUM:
            self.demand_tx[key] = DemandTx(sender, msg.tx, msg.amount, now, REFUSED)
            fx.append(Send(sender, TooLate(msg.tx, msg.amount)))
            return
        self.demand_tx[key] = DemandTx(sender, msg.tx, take, now)
        self._set_pstar(self.predicted - take, "demand", now, fx, peer=sender, tx=msg.tx)
        if tier:
            self.tier_shift += take  # this feeder exports that much less
        self.k -= take
        self._note_accept(sender, msg.tx, take, fx)
        fx.append(Send(sender, DraftAccept(msg.tx, take)))
        fx.append(StartTimer(("confirm", sender, msg.tx), now + self.settings.resend_s))
        self._forget_answers(now)

    @staticmethod
    def _answer(record: DemandTx) -> Message:
        if record.state == REFUSED:
            return TooLate(record.tx, record.amount)
        return DraftAccept(record.tx, record.amount)

    def _repeat_accept(self, sender: str, tx: int, now: float, fx: list[Effect]) -> None:
        """Until the supply's decision arrives, keep telling it what was taken: every resend
        time, and after ``give_up_s`` (the transaction is then reported unresolved, and kept)
        once a second, while the supply surely still remembers its decision (it keeps them
        ``retention_s`` from its offer, which came first: the asking stops at 90 % of that,
        before an answer "aborted" could be presumed for a forgotten commit) — so a
        partition or a quarantine that outlasts the give-up time still resolves."""
        record = self.demand_tx.get((sender, tx))
        if record is None or record.state not in (PROVISIONAL, UNRESOLVED):
            return
        waited = now - record.started
        if waited > 0.9 * self.settings.retention_s:
            return  # it stays as taken (reported unresolved when the give-up time passed)
        if record.state == PROVISIONAL and waited > self.settings.give_up_s:
            record.state = UNRESOLVED
            text = (
                f"tx {tx} from {sender}: no decision after {self.settings.give_up_s:g} s; "
                f"keeping it, and asking once a second for {self.settings.retention_s:g} s"
            )
            self._note(fx, "unresolved", text, "warning")
        pause = self.settings.resend_s if record.state == PROVISIONAL else 1.0
        fx.append(Send(sender, DraftAccept(tx, record.amount)))
        fx.append(StartTimer(("confirm", sender, tx), now + pause))

    def _on_commit(self, sender: str, msg: DraftCommit, now: float, fx: list[Effect]) -> None:
        record = self.demand_tx.get((sender, msg.tx))
        if record is None or record.state not in (PROVISIONAL, UNRESOLVED):
            return
        record.state = FINAL
        self.k += record.amount
        fx.append(Persist("lb", self.journal(now).to_data()))  # no longer open
        fx.append(CancelTimer(("confirm", sender, msg.tx)))
        self._count_in(sender, record.amount, msg.tx, fx)

    def _on_abort(self, sender: str, msg: DraftAbort, now: float, fx: list[Effect]) -> None:
        record = self.demand_tx.get((sender, msg.tx))
        if record is None or record.state not in (PROVISIONAL, UNRESOLVED):
            return
        record.state = ABORTED
        self._set_pstar(self.predicted + record.amount, "rollback", now, fx, peer=sender, tx=msg.tx)
        if self._from_tier(sender):
            self.tier_shift -= record.amount
        self.k += record.amount
        fx.append(CancelTimer(("confirm", sender, msg.tx)))
        self._note(
            fx, "rollback", f"tx {msg.tx} from {sender} aborted; {record.amount:g} given back"
        )

    def _note_accept(self, peer: str, tx: int, amount: float, fx: list[Effect]) -> None:
        text = f"accepting {amount:g} from {peer} (tx {tx})"
        self._note(fx, "accept", text, "debug", peer=peer, amount=amount, tx=tx)

    def _count_in(self, peer: str, amount: float, tx: int | None, fx: list[Effect]) -> None:
        self.migrations_in += 1
        self.moved_in += amount
        text = f"migration: {amount:.3f} kW in from {peer}" + (f" (tx {tx})" if tx else "")
        self._note(fx, "migration", text, role="demand", peer=peer, amount=amount, tx=tx)

    def _forget_answers(self, now: float) -> None:
        horizon = now - self.settings.retention_s
        self.demand_tx = {
            key: r
            for key, r in self.demand_tx.items()
            if r.state in (PROVISIONAL, UNRESOLVED) or r.started >= horizon
        }
