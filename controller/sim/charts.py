"""What the charts of a run draw (pure): the series behind ``gateway.png``, ``k.png``,
``migrations.png`` and ``groups.png``, folded from the rows of ``series.csv`` one at a time, so
memory grows with the instants and the lines drawn, never with nodes × instants.

Up to :data:`PER_NODE_LIMIT` nodes every node gets its own lines. Beyond, the lines are per
feeder: G and NG are **summed** over the feeder's nodes (the feeder's exchange with the rest of
the site, in kW: the quantity the second tier balances), K is the **mean** over the feeder's
running nodes, and the membership chart becomes the number of groups and the size of the
largest group (a node alone counts as a group of one).

Rows must come sorted by time (as :mod:`controller.sim.output` writes them); an instant is
closed when the first row of the next one arrives, or by :meth:`ChartData.finish`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from controller.sim.output import Row

PER_NODE_LIMIT = 30
ALONE = "alone"  # the band of a node in no group
NAN = float("nan")  # a line's value at an instant it has none
V = TypeVar("V")


@dataclass
class ChartData:
    """The folded series. ``per_node``: lines per node, else per feeder. Each line holds one
    value per instant of :attr:`times` (NaN where it had none)."""

    per_node: bool
    times: list[float] = field(default_factory=list)
    gateway: dict[str, list[float]] = field(default_factory=dict)
    net_generation: dict[str, list[float]] = field(default_factory=dict)
    k: dict[str, list[float]] = field(default_factory=dict)
    migrations: list[int] = field(default_factory=list)
    messages: list[int] = field(default_factory=list)
    # per node (per_node): the band label at each instant, a leader or ALONE ("" while down)
    bands: dict[str, list[str]] = field(default_factory=dict)
    # beyond: groups (a node alone is one) and the largest group's size, over running nodes
    group_count: list[int] = field(default_factory=list)
    largest_group: list[int] = field(default_factory=list)
    _instant: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        if self._instant and row.t != self._instant[0].t:
            if row.t < self._instant[0].t:
                raise ValueError(f"row at t={row.t} after t={self._instant[0].t}: rows unsorted")
            self._close_instant()
        self._instant.append(row)

    def finish(self) -> ChartData:
        if self._instant:
            self._close_instant()
        return self

    def _close_instant(self) -> None:
        rows, self._instant = self._instant, []
        index = len(self.times)
        self.times.append(rows[0].t)
        self.migrations.append(rows[0].migrations)
        self.messages.append(rows[0].messages)
        gateway: dict[str, float] = {}
        net: dict[str, float] = {}
        k_sum: dict[str, float] = {}
        k_up: Counter[str] = Counter()
        for row in rows:
            name = row.node if self.per_node else row.feeder
            gateway[name] = gateway.get(name, 0.0) + row.gateway
            net[name] = net.get(name, 0.0) + row.net_generation
            k_sum.setdefault(name, 0.0)
            if row.up:
                k_sum[name] += row.k
                k_up[name] += 1
        k = {name: k_sum[name] / k_up[name] if k_up[name] else NAN for name in k_sum}
        _put(self.gateway, gateway, index, NAN)
        _put(self.net_generation, net, index, NAN)
        _put(self.k, k, index, NAN)
        if self.per_node:
            _put(self.bands, {r.node: band(r) for r in rows}, index, "")
        else:
            sizes = Counter(r.group or f"alone:{r.node}" for r in rows if r.up)
            self.group_count.append(len(sizes))
            self.largest_group.append(max(sizes.values(), default=0))


def band(row: Row) -> str:
    """The membership band of a node: its leader, :data:`ALONE`, or "" while it is down."""
    if not row.up:
        return ""
    return row.leader if row.group else ALONE


def _put(lines: dict[str, list[V]], values: dict[str, V], index: int, missing: V) -> None:
    """Append each line's value at instant ``index``; ``missing`` fills instants a line missed."""
    for name, value in values.items():
        line = lines.setdefault(name, [])
        line.extend([missing] * (index - len(line)))
        line.append(value)
    for line in lines.values():
        line.extend([missing] * (index + 1 - len(line)))


def fold(rows: Iterable[Row], nodes: int) -> ChartData:
    """The chart series of a run of ``nodes`` nodes from its rows (sorted by time)."""
    data = ChartData(per_node=nodes <= PER_NODE_LIMIT)
    for row in rows:
        data.add(row)
    return data.finish()
