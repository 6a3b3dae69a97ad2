"""Tier 2: transfers between feeders, through their leaders (docs/algorithm.md, "Two tiers:
groups per feeder and transfers between feeders").

A tier-1 migration moves a node's setpoint by +q and another's in the same group by −q, so
a feeder's residual Σ (NG − PG) is invariant under tier 1: a feeder in surplus or in deficit
as a whole can never balance on its own. Tier 2 moves quanta between feeders, and it is the
same transaction as tier 1 — a migration between two nodes that happen to be in different
groups — with the feeder's residual in the place of the node's own surplus or need.

Each feeder has a few *anchors*, the same static list on every node (``tier_peers``, the
``k`` lowest ids of each feeder, :func:`feeder_anchors`): the only nodes a node may hear
from outside its feeder. A feeder's *delegate* for an LB phase is the lowest anchor among
the members of its complete collection — every member holds the same collected state, so
all agree; it is the leader whenever the leader is an anchor (the lowest reachable id
leads), and another anchor of the group when the leader is not one:

* after its synchronisation, the delegate announces its feeder's residual, ``FeederState``,
  to the other feeders' anchors. The others send nothing more; a delegate sends one
  datagram per anchor per cycle;
* a delegate whose feeder is in surplus offers each feeder it heard in deficit this cycle a
  ``DraftSelect`` sized by both residuals (less what it has offered and not settled), within
  its actuator's headroom and ``step_max`` — the adaptive plan, fed with the feeders' needs;
* a delegate takes a select from another feeder up to its feeder's deficit — it answers,
  holds the amount provisionally and repeats its accept until the decision, exactly as a
  demand node does for a group peer; anything else (not the delegate, not synchronised this
  phase, no deficit, devices not trusted) is ``TooLate``.

Commit, abort, resend, lease, duplicates and the journal are the load balancer's own
(:mod:`controller.lb.supply`, :mod:`controller.lb.demand`, :mod:`controller.lb.journal`):
a transaction's resolution messages are taken from a tier peer whether or not this node is
a delegate any more, so one that crashed or lost its group mid-transfer still settles it.
After a transfer the delegate's own node is off balance, and tier 1 spreads it in its feeder.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from controller.core.effects import Effect, Send
from controller.lb import rules
from controller.lb.messages import FeederState
from controller.lb.settings import QUANTUM
from controller.lb.supply import SupplySide
from controller.lb.transactions import PENDING


def feeder_anchors(feeders: Iterable[Sequence[str]], k: int) -> tuple[str, ...]:
    """The site's anchors: the ``k`` lowest ids of every feeder (``CoreSpec.tier_peers``,
    the same on every node).

    The lowest reachable id of a feeder leads it (group management's priority rule), so its
    leader is usually an anchor, and the group has an anchor unless its ``k`` lowest nodes
    are all down or cut off."""
    if k < 1:
        raise ValueError(f"tier anchors: k must be at least 1, not {k}")
    return tuple(sorted({node for feeder in feeders for node in sorted(feeder)[:k]}))


class TierSide(SupplySide):
    """The delegate's part in tier 2 (nothing runs while ``tier_peers`` is empty)."""

    def _tier_sync(self, fx: list[Effect], now: float) -> None:
        """Right after the synchronisation: this feeder's residual, announced, and offers to
        the feeders heard in deficit. Only the delegate of a complete collection takes part."""
        self.feeder_residual, self.tier_shift = None, 0.0
        collected = self.collected
        if not self.tier_peers or collected is None or not self.settings.adaptive:
            return
        if collected.missing or self._delegate(collected.members) != self.node_id:
            return
        residual = sum(
            m.net_generation - m.predicted
            for m in collected.members.values()
            if m.gateway is not None  # a node without an Sst cannot act
        )
        self.feeder_residual = residual
        for peer in sorted(self.tier_peers):
            fx.append(Send(peer, FeederState(residual)))
        self._note(fx, "feeder", f"feeder residual {residual:.3f} kW", "debug", residual=residual)
        self._tier_offer(now, fx)

    def _delegate(self, members: Iterable[str]) -> str | None:
        """The lowest anchor among ``members`` (None: the group has none)."""
        return min(self.tier_anchors.intersection(members), default=None)

    def _on_feeder_state(self, sender: str, msg: FeederState, now: float, fx: list[Effect]) -> None:
        if not self._from_tier(sender):
            return
        self.feeders[sender] = (max(0.0, -msg.residual), now)
        self._tier_offer(now, fx)

    def _tier_offer(self, now: float, fx: list[Effect]) -> None:
        """Offer the feeders in deficit what this feeder's surplus allows."""
        residual = self._feeder_residual()
        band = self.settings.tolerance
        if residual is None or residual < band or not self._can_take():
            return
        horizon = now - self.settings.cycle_s
        self.feeders = {p: v for p, v in self.feeders.items() if v[1] >= horizon}
        needs = {p: need for p, (need, _) in self.feeders.items() if need >= band}
        if not needs:
            return
        pending = [t for t in self.supply_tx.values() if t.state == PENDING]
        plan = rules.adaptive_plan(
            needs,
            available=residual - sum(t.offered for t in pending if t.tier),
            headroom=self.readings.pstar_max - self.predicted - sum(t.offered for t in pending),
            step_max=self.settings.step_max,
            smallest=QUANTUM,
            several=True,
        )
        for peer, amount in plan:
            need, heard = self.feeders[peer]
            self.feeders[peer] = (need - amount, heard)  # each announcement served once
            self._offer(peer, amount, now, fx, tier=True)
        self._forget(now)  # a leader that drafts only at tier 2 forgets old decisions too
