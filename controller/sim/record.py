"""What a scenario run records (pure): one :class:`Sample` per sampling instant, a
:class:`Event` per thing that happened, and the :class:`Summary` at the end. The engine
(:mod:`controller.sim.engine`) fills them; the writers (:mod:`controller.sim.output`,
:mod:`controller.sim.plots`) read them and nothing else, so a shape is defined here once.

Times are virtual seconds since the scenario started. Powers are kW with the node's sign
convention (``docs/algorithm.md``, "Quantities and sign convention").
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NodeSample:
    """One node at one instant, as its devices and its core show it."""

    node: str
    feeder: str  # the feeder (topology component) it sits on
    up: bool  # its process runs (False: crashed, not restarted yet)
    state: str  # the load balancer's state: "supply", "demand", "normal"
    gateway: float  # G, measured at its SST
    net_generation: float  # NG, measured
    predicted: float  # PG, the core's predicted gateway
    pstar: float  # the setpoint its SST holds (read from the plant, not the core)
    storage: float | None  # the setpoint its battery holds (None: no battery)
    group: str  # its group id ("" when alone)
    leader: str  # its group's leader (itself when alone)
    k: float  # K as the node knows it


@dataclass(frozen=True)
class Sample:
    t: float
    nodes: tuple[NodeSample, ...]
    frequency: float  # the bus frequency the plant shows (rad/s, FREEDM's 376.8 nominal)
    migrations: int  # migrations completed so far, over every node
    messages: int  # datagrams sent so far


@dataclass(frozen=True)
class Event:
    """A thing that happened: a scenario event applied, a group change, a migration."""

    t: float
    kind: str  # "scenario", "group", "migration", "invariant"
    node: str  # the node it concerns ("" for the site)
    text: str


@dataclass(frozen=True)
class Summary:
    """The end of a run, as ``summary.json`` writes it."""

    scenario: str
    seed: int
    nodes: int
    feeders: int
    duration_s: float
    wall_s: float
    converged: bool
    convergence_s: float | None  # when every node last came within the band (None: never)
    final_spread: float  # max - min of (G - NG) over the nodes that run, at the end
    residual: float  # Σ|G - NG| at the end
    setpoint_sum_change: float  # Σ (held setpoint - initial), read from the plant
    migrations: int
    messages: int
    messages_per_node_round: float
    elections: int  # group changes seen
    invariant_checks: dict[str, bool] = field(default_factory=dict)  # name -> held
    # charging requests: "asked" and the answers by HTTP status ("201", "503", ...)
    charging: dict[str, int] = field(default_factory=dict)
