"""The timed events of a scenario (``[[events]]``, schema only; pure).

Each table is checked by the model of its ``kind`` (:data:`EVENT_KINDS`); the references an
event makes (nodes, Fids, feeders) and the order of crashes and restarts are checked against
the site by :mod:`controller.sim.scenario`. Times are virtual seconds since the scenario
started; powers kW with the node's sign convention.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, model_validator

from config.schema import Model, Name, NonNegative, Positive, in_range
from config.simulation import Series


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be 0..1 (a fraction)")
    return value


Fraction = Annotated[float, AfterValidator(_fraction)]


class _Event(Model):
    at_s: NonNegative


class _ProfileEvent(_Event):
    """A device's value becomes ``kw`` at ``at_s``, or follows ``series`` from then on (its
    times counted from ``at_s``)."""

    node: Name
    kw: float | None = None
    series: Series | None = None

    @model_validator(mode="after")
    def _one(self) -> _ProfileEvent:
        if (self.kw is None) == (self.series is None):
            raise ValueError("give kw or series (steps or ramp), one of them")
        if self.series is not None and self.series.csv is not None:
            raise ValueError("series here is steps or ramp, from at_s (csv is for a sim table)")
        return self

    def profile(self) -> Series:
        """The value from ``at_s`` on, times relative to ``at_s``."""
        return self.series if self.series is not None else Series(value=self.kw)


class LoadEvent(_ProfileEvent):
    """The node's Load drain (the first Load device, by id)."""

    kind: Literal["load"]


class GenerationEvent(_ProfileEvent):
    """The node's Drer generation (the first Drer device, by id)."""

    kind: Literal["generation"]


class GatewaySetpointEvent(_Event):
    """An operator writes the SST's PStar behind the controller's back (FREEDM's 2012 HIL)."""

    kind: Literal["gateway_setpoint"]
    node: Name
    kw: float


class EvArrivalsEvent(_Event):
    """``count`` charging requests at the entry ``node``, spread evenly over ``over_s``."""

    kind: Literal["ev_arrivals"]
    node: Name
    count: Annotated[int, AfterValidator(in_range(1, 1_000_000))]
    power_kw: Positive
    energy_kwh: Positive
    over_s: NonNegative = 0.0


class CrashEvent(_Event):
    kind: Literal["crash"]
    node: Name


class RestartEvent(_Event):
    kind: Literal["restart"]
    node: Name


class FidOpenEvent(_Event):
    kind: Literal["fid_open"]
    fid: Name


class FidCloseEvent(_Event):
    kind: Literal["fid_close"]
    fid: Name


class PartitionEvent(_Event):
    """The network is cut between groups of nodes. In a loaded :class:`Scenario`, ``groups``
    is every cell of the cut: the groups given (or each feeder named), then the nodes named in
    none, together, as one more group."""

    kind: Literal["partition"]
    groups: list[list[Name]] | None = None
    feeders: list[Name] | None = None

    @model_validator(mode="after")
    def _one(self) -> PartitionEvent:
        if (self.groups is None) == (self.feeders is None):
            raise ValueError("give groups (lists of node ids) or feeders, one of them")
        if not (self.groups or self.feeders):
            raise ValueError("a partition needs at least one group or feeder")
        return self


class HealEvent(_Event):
    """Every partition ends (link losses stay)."""

    kind: Literal["heal"]


class LinkLossEvent(_Event):
    """The link between ``a`` and ``b`` loses ``drop`` of its datagrams (0: restored)."""

    kind: Literal["link_loss"]
    a: Name
    b: Name
    drop: Fraction


ScenarioEvent = (
    LoadEvent | GenerationEvent | GatewaySetpointEvent | EvArrivalsEvent | CrashEvent
    | RestartEvent | FidOpenEvent | FidCloseEvent | PartitionEvent | HealEvent | LinkLossEvent
)  # fmt: skip
EVENT_KINDS: dict[str, type[_Event]] = {
    "load": LoadEvent,
    "generation": GenerationEvent,
    "gateway_setpoint": GatewaySetpointEvent,
    "ev_arrivals": EvArrivalsEvent,
    "crash": CrashEvent,
    "restart": RestartEvent,
    "fid_open": FidOpenEvent,
    "fid_close": FidCloseEvent,
    "partition": PartitionEvent,
    "heal": HealEvent,
    "link_loss": LinkLossEvent,
}
