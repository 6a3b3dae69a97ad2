"""What ``dgi demo`` shows: a table redrawn in place on a terminal, one line a second elsewhere.

Both carry the clock (elapsed, and the profile's time of day when the site plays its
profiles faster), the round count, the migrations with the last one, and the group's
residual — what migrations cannot balance because the group as a whole is in surplus or
deficit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.table import Table

from controller.core.effects import Note

if TYPE_CHECKING:
    from controller.cli.demo_cmd import Tracker
    from controller.node.runtime import NodeRuntime

COLOURS = {"supply": "green", "demand": "red", "normal": "white"}


@dataclass(frozen=True)
class Migration:
    amount: float
    supply: str
    demand: str
    at: float


class DemoView:
    """Listens to the nodes' notes; renders the table and the summary line."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.sim = tracker.sim
        self.nodes = tracker.nodes
        self.migrations = 0
        self.last: Migration | None = None
        self.started = self.nodes[0].clock()
        for node in self.nodes:
            node.listeners.append(self._heard)

    def _heard(self, node_id: str, when: float, note: Note) -> None:
        if note.kind == "migration" and note.data.get("role") == "supply":
            self.migrations += 1
            amount = note.data.get("amount")
            self.last = Migration(
                float(amount) if isinstance(amount, (int, float)) else 0.0,
                node_id,
                str(note.data.get("peer")),
                when,
            )

    # -- the figures ---------------------------------------------------------------------------

    def residual(self) -> str:
        """Σ (NG - PG) over the group, from the nodes themselves."""
        value = sum(n.lb.net_generation - n.lb.predicted for n in self.nodes)
        return f"{round(value, 2) + 0.0:+.2f} kW"  # never "-0.00"

    def rounds(self) -> int:
        return max(n.lb.rounds for n in self.nodes)

    def clock(self) -> str:
        """``mm:ss`` since the start, and the profile's time of day when it runs faster."""
        elapsed = max(0.0, self.nodes[0].clock() - self.started)
        text = f"{int(elapsed // 60):02d}:{int(elapsed % 60):02d}"
        settings = self.sim.site.simulation
        if settings.time_scale != 1.0 or settings.profile_start_s:
            day = (settings.profile_start_s + settings.time_scale * self.sim.now()) % 86400
            text += f" · day {int(day // 3600):02d}:{int(day % 3600 // 60):02d}"
            if settings.time_scale != 1.0:
                text += f" (×{settings.time_scale:g})"
        return text

    def last_migration(self) -> str:
        if self.last is None:
            return "none yet"
        last, ago = self.last, self.nodes[0].clock() - self.last.at
        return f"{last.amount:.2f} kW {last.supply} → {last.demand} ({ago:.1f} s ago)"

    # -- the two renderings --------------------------------------------------------------------

    def table(self) -> Table:
        site = self.sim.site
        table = Table(
            title=f"{site.name} · {site.algorithm.mode} · {self.clock()} · round {self.rounds()}",
            caption=(
                f"residual {self.residual()} (what migrations cannot balance) · "
                f"migrations {self.migrations}, last {self.last_migration()}" + self._converged()
            ),
        )
        columns: tuple[str, ...] = (
            "node",
            "state",
            "G kW",
            "NG kW",
            "PG kW",
            "K kW",
            "in",
            "out",
            "PStar kW",
            "EV",
        )
        metered = bool(self.meters())
        if metered:
            columns += ("V pu", "line %")
        for column in columns:
            table.add_column(column, justify="left" if column in ("node", "state") else "right")
        meters = self.meters()
        for node in self.nodes:
            lb = node.lb
            written = lb.readings.pstar
            grid = meter_cells(meters.get(node.node.id)) if metered else ()
            table.add_row(
                node.node.id,
                f"[{COLOURS.get(lb.state, 'white')}]{lb.state.upper()}[/]",
                f"{lb.gateway:.3f}",
                f"{lb.net_generation:.3f}",
                f"{lb.predicted:.3f}",
                f"{lb.k:.3f}",
                str(lb.migrations_in),
                str(lb.migrations_out),
                "—" if written is None else f"{written:.3f}",
                ev_sessions(node),
                *grid,
            )
        return table

    def meters(self) -> dict[str, dict[str, float]]:
        """Each metered node's Meter values in the plant (the pandapower plant's power flow;
        empty: the last one did not converge)."""
        return {
            d.node_id: d.model.states for d in self.sim.plant.devices.values() if d.type == "Meter"
        }

    def line(self) -> str:
        """One line: the clock, the round, each node, the residual and the last migration."""
        meters = self.meters()

        def grid(node_id: str) -> str:
            if node_id not in meters:
                return ""
            voltage, loading = meter_cells(meters[node_id])
            return f" V {voltage} lines {loading} %".replace("[red]", "").replace("[/]", "")

        nodes = " | ".join(
            f"{n.node.id} {n.lb.state.upper()} G {n.lb.gateway:.2f} NG {n.lb.net_generation:.2f}"
            + grid(n.node.id)
            for n in self.nodes
        )
        return (
            f"{self.clock()} round {self.rounds()} | {nodes} | residual {self.residual()}"
            f" | migrations {self.migrations}, last {self.last_migration()}"
        )

    def _converged(self) -> str:
        """When the profiles stand still: how long the first balancing took."""
        if self.sim.site.simulation.time_scale != 1.0:
            return ""
        settled = self.tracker.converged_at()
        return "" if settled is None else f" · converged {settled:.2f} s after the first round"


def meter_cells(states: dict[str, float] | None) -> tuple[str, str]:
    """A node's voltage and line loading (— without a meter, "fault" without a solution)."""
    if states is None:
        return "—", "—"
    if "voltage" not in states:
        return "[red]fault[/]", "[red]fault[/]"
    voltage = states["voltage"]
    colour = "red" if not 0.95 <= voltage <= 1.05 else "white"
    return f"[{colour}]{voltage:.3f}[/]", f"{states.get('loading', 0.0):.0f}"


def ev_sessions(node: NodeRuntime) -> str:
    """Its charging sessions and what they book (— without EV charging)."""
    ev = node.core.ev
    if ev is None:
        return "—"
    return f"{len(ev.confirmed)} · {ev.booked_kw():.0f} kW"
