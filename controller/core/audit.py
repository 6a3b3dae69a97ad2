"""Is a site consistent? Judged from what its devices hold and what its nodes believe (pure).

The devices are the truth: per node, the setpoint its actuator holds (read back over Modbus)
must be the one the node commands (its ledger); over the site, the PStar the devices hold
must have changed, since the baseline, by exactly what the nodes adjusted on purpose (a
Logger hold, an adoption, a limit) — migrations move power between nodes and sum to zero;
and no SUPPLY node may be left facing a DEMAND node of its own group (nodes in different
groups — a partition, an open Fid — are not balanced against each other: that is noted).
The residual, Σ (NG − held PStar), is what migrations cannot balance because the site as a
whole is in surplus or deficit.

A baseline (``dgi audit --save-baseline``) records per node the PStar its device held and,
when the node was running, its ledger's adjustments so far and when it started; without one
each node's start is its baseline. A node that restarted since its baseline is named: what
its earlier process adjusted after the baseline is not known.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from controller.lb.rules import DEMAND, SUPPLY
from controller.lb.settings import QUANTUM

FLOAT32_EPS = 2.0**-22


@dataclass(frozen=True)
class NodeFacts:
    """One node: what its devices say and what its API says; ``problems`` lists what could
    not be read."""

    node: str
    held: float | None = None  # the PStar its actuator's setpoint gives
    held_setpoint: float | None = None  # the actuator's command point, read back
    resolution: float = 0.0  # the smallest step that point holds
    gateway: float | None = None
    net_generation: float | None = None
    status: Mapping[str, Any] | None = None
    ledger: Mapping[str, Any] | None = None
    problems: Sequence[str] = ()
    via_node: Sequence[str] = ()  # devices read through the node's API (a serial bus)


@dataclass(frozen=True)
class Baseline:
    """What one node's device held when the baseline was taken, and its ledger then."""

    held: float
    adjusted: float | None = None
    started_at: float | None = None


@dataclass(frozen=True)
class NodeVerdict:
    node: str
    state: str | None
    commanded: float | None
    held: float | None
    agrees: bool
    net_generation: float | None
    gateway: float | None
    problems: tuple[str, ...]
    via_node: tuple[str, ...] = ()
    group: tuple[str, ...] | None = None  # its group as its API reports it


@dataclass
class Audit:
    nodes: list[NodeVerdict]
    setpoint_sum_change: float | None
    adjusted: float | None
    migrated: float | None
    open_pairs: list[tuple[str, str]]
    residual: float | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def consistent(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "consistent": self.consistent,
            "problems": self.problems,
            "notes": self.notes,
            "nodes": [
                vars(n)
                | {
                    "problems": list(n.problems),
                    "via_node": list(n.via_node),
                    "group": None if n.group is None else list(n.group),
                }
                for n in self.nodes
            ],
            "setpoint_sum_change": self.setpoint_sum_change,
            "adjusted": self.adjusted,
            "migrated": self.migrated,
            "open_pairs": [list(p) for p in self.open_pairs],
            "residual": self.residual,
        }


def judge(
    facts: Sequence[NodeFacts],
    baseline: Mapping[str, Baseline] | None = None,
    *,
    agree_kw: float = 0.001,
    sum_kw: float = QUANTUM,
) -> Audit:
    """The verdict on a site from its nodes' facts and an optional baseline."""
    verdicts = [_node(fact, agree_kw) for fact in facts]
    problems = [f"{v.node}: {p}" for v in verdicts for p in v.problems]
    notes: list[str] = []
    change: float | None = 0.0
    adjusted: float | None = 0.0
    migrated: float | None = 0.0
    for fact in facts:
        delta = _since_baseline(fact, (baseline or {}).get(fact.node), notes)
        if delta is None or change is None or adjusted is None or migrated is None:
            change = adjusted = migrated = None
            continue
        change, adjusted = change + delta[0], adjusted + delta[1]
        migrated += float((fact.ledger or {}).get("migrated", 0.0))
    if change is not None and adjusted is not None and abs(change - adjusted) > sum_kw:
        problems.append(
            f"the setpoints the devices hold changed by {change:+.6f} kW in sum, not by the "
            f"{adjusted:+.6f} kW the nodes adjusted: a migration was applied on one side only"
        )
    pairs = _open_pairs(verdicts, notes)
    if pairs:
        shown = ", ".join(f"{s} -> {d}" for s, d in pairs)
        problems.append(f"SUPPLY and DEMAND nodes left facing each other: {shown}")
    return Audit(verdicts, change, adjusted, migrated, pairs, _residual(facts), problems, notes)


def _since_baseline(
    fact: NodeFacts, base: Baseline | None, notes: list[str]
) -> tuple[float, float] | None:
    """(change of the held PStar, what the node adjusted on purpose) since the baseline."""
    if fact.held is None or fact.ledger is None:
        return None
    adjusted = float(fact.ledger["adjusted"])
    if base is None:
        return fact.held - float(fact.ledger["initial"]), adjusted
    started = (fact.status or {}).get("started_at")
    if base.started_at is not None and base.adjusted is not None:
        if started == base.started_at:
            return fact.held - base.held, adjusted - base.adjusted
        notes.append(
            f"{fact.node} restarted since the baseline: what its earlier process adjusted "
            "after the baseline is not known"
        )
    return fact.held - base.held, adjusted


def _node(fact: NodeFacts, agree_kw: float) -> NodeVerdict:
    problems = list(fact.problems)
    status, ledger = fact.status or {}, fact.ledger or {}
    commanded = status.get("commanded")
    wanted = ledger.get("setpoint")
    agrees = False
    if fact.held_setpoint is None:
        problems.append("its actuator's setpoint could not be read")
    elif commanded is None or wanted is None:
        problems.append("it reports no command")
    elif ledger.get("seq") != ledger.get("acked_seq"):
        problems.append("its newest command is not acknowledged by the device yet")
    else:
        tolerance = max(agree_kw, fact.resolution, abs(float(wanted)) * FLOAT32_EPS)
        agrees = abs(fact.held_setpoint - float(wanted)) <= tolerance
        if not agrees:
            problems.append(
                f"its actuator holds setpoint {fact.held_setpoint:g} but it commanded "
                f"{float(wanted):g}"
            )
    if status.get("released"):
        problems.append("it is released to failsafe values")
    return NodeVerdict(
        fact.node,
        status.get("state"),
        None if commanded is None else float(commanded),
        fact.held,
        agrees,
        fact.net_generation,
        fact.gateway,
        tuple(problems),
        tuple(fact.via_node),
        _group(status),
    )


def _group(status: Mapping[str, Any]) -> tuple[str, ...] | None:
    group = status.get("group")
    if not isinstance(group, list) or not all(isinstance(n, str) for n in group):
        return None
    return tuple(group)


def _open_pairs(verdicts: Sequence[NodeVerdict], notes: list[str]) -> list[tuple[str, str]]:
    """SUPPLY → DEMAND pairs of one group (as both nodes report it, or unknown groups);
    pairs across groups are noted, not judged."""
    supply = [v for v in verdicts if v.state == SUPPLY]
    demand = [v for v in verdicts if v.state == DEMAND]
    pairs: list[tuple[str, str]] = []
    apart: list[tuple[str, str]] = []
    for s in supply:
        for d in demand:
            together = (
                s.group is None or d.group is None or (d.node in s.group and s.node in d.group)
            )
            (pairs if together else apart).append((s.node, d.node))
    if apart:
        shown = ", ".join(f"{s} -> {d}" for s, d in apart)
        notes.append(f"SUPPLY and DEMAND nodes in different groups (not balanced against each "
                     f"other): {shown}")  # fmt: skip
    return pairs


def _residual(facts: Sequence[NodeFacts]) -> float | None:
    parts = [
        f.net_generation - f.held
        for f in facts
        if f.held is not None and f.net_generation is not None
    ]
    return sum(parts) if len(parts) == len(facts) else None
