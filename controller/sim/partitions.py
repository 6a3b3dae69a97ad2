"""Group membership over time as a sequence of partitions (pure), the same for a virtual run
and for real processes, so the two can be compared (``tests/system/test_sim_agreement.py``).

An *observation* is what every node says at one instant: its ``(group id, leader)``, or
None when it does not run (crashed, or not answering its API yet). The nodes that report the
same ``(group id, leader)`` are one cell of the instant's *partition*; a node that does not
run is in no cell. Ids and epochs name a group but are not compared: a partition is the
members only, so a group that re-forms with the same members (a new id) is no change.

:func:`spans` collapses consecutive equal partitions into spans of time. :func:`settled`
then treats the spans shorter than ``min_s`` as transients — the moments while the nodes
disagree during a change (a restarted node alone before it is invited, the survivors of a
leader each alone before one invites the other) last a GM cycle or two, and how long
exactly depends on the timers and, for real processes, on the scheduler: a transient
between two spans of one partition joins them into one (:func:`bridged`), the other
transients are dropped, and consecutive equal partitions collapse. The last span is kept
whatever its length: it is where the observation ended. Apply the same rule to both sides
of a comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from controller.sim.record import Sample

View = tuple[str, str]  # (group id, leader) as a node reports it
Observation = Mapping[str, View | None]  # node -> its view; None: it does not run
Partition = frozenset[frozenset[str]]


def partition_of(observation: Observation) -> Partition:
    """The cells of one instant: the running nodes grouped by the view they report."""
    cells: dict[View, set[str]] = {}
    for node, view in observation.items():
        if view is not None:
            cells.setdefault(view, set()).add(node)
    return frozenset(frozenset(cell) for cell in cells.values())


@dataclass(frozen=True)
class Span:
    """One partition from ``start`` until ``end`` (the next change, or the last observation)."""

    partition: Partition
    start: float
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


def spans(observations: Iterable[tuple[float, Observation]]) -> list[Span]:
    """Consecutive equal partitions of time-ordered observations, collapsed into spans."""
    out: list[Span] = []
    last_t: float | None = None
    for t, observation in observations:
        if last_t is not None and t < last_t:
            raise ValueError(f"observations out of time order: {t} after {last_t}")
        last_t = t
        partition = partition_of(observation)
        if out and out[-1].partition == partition:
            out[-1] = Span(partition, out[-1].start, t)
            continue
        if out:
            out[-1] = Span(out[-1].partition, out[-1].start, t)
        out.append(Span(partition, t, t))
    return out


def bridged(observed: list[Span], min_s: float) -> list[Span]:
    """``observed`` with every span shorter than ``min_s`` that lies between two spans of
    one partition folded into one span with them (the nodes disagreed for a moment and came
    back to where they were: the survivors of a leader, still in its old group, each alone
    until one invites the other)."""
    out: list[Span] = []
    for span in observed:
        if len(out) >= 2 and out[-2].partition == span.partition and out[-1].length < min_s:
            del out[-1]
            span = Span(span.partition, out.pop().start, span.end)
        elif out and out[-1].partition == span.partition:
            span = Span(span.partition, out.pop().start, span.end)
        out.append(span)
    return out


def settled(observed: list[Span], min_s: float) -> list[Partition]:
    """The partitions that held at least ``min_s`` (and the last one), after
    :func:`bridged`, consecutive equal ones collapsed."""
    out: list[Partition] = []
    joined = bridged(observed, min_s)
    for i, span in enumerate(joined):
        if span.length < min_s and i != len(joined) - 1:
            continue
        if not out or out[-1] != span.partition:
            out.append(span.partition)
    return out


def since(observed: list[Span], partition: Partition) -> list[Span]:
    """The spans from the first one of ``partition`` on (empty: it never showed)."""
    for i, span in enumerate(observed):
        if span.partition == partition:
            return observed[i:]
    return []


def of_samples(samples: Iterable[Sample]) -> list[tuple[float, Observation]]:
    """A virtual run's observations: each sample's ``(group, leader)`` of the nodes that run."""
    return [
        (s.t, {n.node: (n.group, n.leader) if n.up else None for n in s.nodes}) for s in samples
    ]


def whole(nodes: Iterable[str]) -> Partition:
    """One group of ``nodes``."""
    return frozenset({frozenset(nodes)})


def show(partition: Partition) -> str:
    """``{sst1,sst2} {sst3}``: cells by their first member, members sorted."""
    cells = sorted(sorted(cell) for cell in partition)
    return " ".join("{" + ",".join(cell) + "}" for cell in cells) or "{}"
