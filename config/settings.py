"""Site-wide settings tables: ``[site]``, ``[algorithm]`` and ``[simulation]``."""

from __future__ import annotations

from typing import Literal

from config.schema import Model, Name, NonNegative, Positive


class SiteHeader(Model):
    name: Name
    description: str = ""


class AlgorithmSettings(Model):
    """Load-balancing settings (shared/design/ALGORITHM.md)."""

    mode: Literal["freedm", "adaptive"] = "adaptive"
    migration_step: Positive = 1.0
    step_max: Positive = 10.0
    tolerance: Positive = 0.01
    actuation: Literal["sst", "desd"] = "sst"
    malicious: bool = False
    check_invariant: bool = False


class SimulationSettings(Model):
    """The simulated bus shared by all substations of a site."""

    nominal_frequency: Positive = 376.8
    droop: NonNegative = 0.05
