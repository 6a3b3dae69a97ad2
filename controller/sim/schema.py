"""The shape of a scenario file (pure): ``[scenario]``, ``[generate]``, ``[network]`` and the
document around the events (each event's model is in :mod:`controller.sim.events`); what
the file means against its site is checked by :mod:`controller.sim.scenario`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from config.schema import Model, Name, NonNegative, Positive, in_range
from config.timings import DEFAULT_PROFILE, ProfileName
from controller.peer.transport import Faults
from controller.sim.events import (
    Fraction,
)
from controller.sim.generate import MAX_NODES, Span

Loc = tuple[str | int, ...]
Mode = Literal["freedm", "adaptive"]
_FAULTS = Faults()


class ScenarioHeader(Model):
    """``[scenario]``."""

    name: Name
    description: str = ""
    duration_s: Positive
    seed: int = 0
    sample_s: Positive = 0.5  # one record sample this often (virtual seconds)
    mode: Mode | None = None  # replaces the site's [algorithm] mode
    # replaces the site's [algorithm] reconcile: "adopt" keeps a setpoint an operator wrote
    reconcile: Literal["reassert", "adopt"] | None = None
    full_wire: bool = False  # every datagram sealed and opened by the real wire
    tiers: bool = True  # the second tier: power moved between feeders by their leaders


class Range(Model):
    """A per-node amount: a number (every node), or ``{ min, max }`` drawn per node."""

    min: float
    max: float

    @model_validator(mode="before")
    @classmethod
    def _number_is_fixed(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"min": float(data), "max": float(data)}
        if not isinstance(data, dict):
            raise ValueError("must be a number or { min, max }")
        return data

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self

    @property
    def span(self) -> Span:
        return Span(self.min, self.max)


class GenerateSettings(Model):
    """``[generate]``: a made-up site (:mod:`controller.sim.generate`)."""

    nodes: Annotated[int, AfterValidator(in_range(1, MAX_NODES))]
    feeders: Annotated[int, AfterValidator(in_range(1, MAX_NODES))] = 1
    gateway_kw: Range = Range(min=0.0, max=0.0)
    generation_kw: Range = Range(min=0.0, max=0.0)
    load_kw: Range = Range(min=0.0, max=0.0)
    timings: ProfileName = DEFAULT_PROFILE
    mode: Mode = "adaptive"
    capacity_kw: Positive = 100.0
    lag_s: NonNegative = 0.2
    storage_kwh: Positive | None = None  # a Desd of this capacity on every node
    chargers: bool = False  # an Evse on every node
    # the gateways shifted to sum to the net generations per feeder, over the site, or not
    balance: Literal["feeder", "site", "none"] = "feeder"

    @model_validator(mode="after")
    def _feeders_fit(self) -> GenerateSettings:
        if self.feeders > self.nodes:
            raise ValueError(f"feeders ({self.feeders}) must be at most nodes ({self.nodes})")
        return self


class LinkLoss(Model):
    """A lossy link between two nodes (either way), beyond ``drop``; 1.0 is a link down."""

    a: Name
    b: Name
    drop: Fraction


class NetworkSettings(Model):
    """``[network]``: :class:`controller.peer.transport.Faults`, with its names and defaults."""

    drop: Fraction = _FAULTS.drop
    duplicate: Fraction = _FAULTS.duplicate
    reorder: Fraction = _FAULTS.reorder
    delay_s: NonNegative = _FAULTS.delay_s
    jitter_s: NonNegative = _FAULTS.jitter_s
    reorder_delay_s: NonNegative = _FAULTS.reorder_delay_s
    links: list[LinkLoss] = Field(default_factory=list)

    def faults(self) -> Faults:
        """A new :class:`Faults` (the engine changes its own as partitions come and go)."""
        return Faults(
            drop=self.drop,
            duplicate=self.duplicate,
            reorder=self.reorder,
            delay_s=self.delay_s,
            jitter_s=self.jitter_s,
            reorder_delay_s=self.reorder_delay_s,
            link_drop={frozenset((link.a, link.b)): link.drop for link in self.links},
        )


class ScenarioDocument(Model):
    """The whole file; each ``[[events]]`` table is checked by its kind (:data:`EVENT_KINDS`)."""

    site: str | None = None
    topology: str | None = None
    scenario: ScenarioHeader
    generate: GenerateSettings | None = None
    network: NetworkSettings = NetworkSettings()
    events: list[dict[str, Any]] = Field(default_factory=list)


#: The device type an event on a node changes.
