"""Site-wide settings tables: ``[site]``, ``[algorithm]``, ``[ev]``, ``[simulation]`` and
``[grid]`` (its network files: :mod:`config.grid`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from config.addresses import HostPort
from config.schema import Model, Name, NonNegative, Positive


class SiteHeader(Model):
    name: Name
    description: str = ""
    key_file: str = "group.key"  # the group key (relative to the site file); dgi keygen makes one
    api_token_file: str = "api.token"  # bearer token for API writes (relative to the site file)
    # where each dgi run keeps what must survive its process (relative to the site file):
    # <node>.lb.jsonl, the load balancer's journal (docs/algorithm.md, "A node restart")
    state_dir: str = "state"
    # FREEDM's physical topology (config/topology.py, relative to the site file): a group keeps
    # only the nodes reachable through closed Fids; none: every node may group with every other
    topology_file: str | None = None


class AlgorithmSettings(Model):
    """Load-balancing settings (docs/algorithm.md)."""

    mode: Literal["freedm", "adaptive"] = "adaptive"
    migration_step: Positive = 1.0  # FREEDM's fixed step (kW)
    step_max: Positive = 10.0  # adaptive: largest single migration (kW)
    tolerance: Positive = 0.01  # adaptive: balance is reached within this (kW)
    early_close: bool = True  # adaptive: close the request window once every peer answered
    multi_demand: bool = True  # adaptive: serve several demand peers per round
    max_amount: Positive = 1000.0  # largest age or amount accepted in a message (kW)
    actuation: Literal["sst", "desd"] = "sst"
    malicious: bool = False  # experiments only: drop every DraftSelect
    check_invariant: bool = False
    failsafe_hold_s: NonNegative = 5.0  # a needed device stale this long: write failsafe values
    # devices must answer correctly this long before the node trusts them again (a device
    # that flaps — one good answer in five — never resets the hold time)
    recovery_s: NonNegative = 2.0
    # when the device holds another setpoint than the node commanded (restart, local
    # override, its own fallback): write the command again, or take the device's value
    reconcile: Literal["reassert", "adopt"] = "reassert"
    setpoint_tolerance_kw: NonNegative = 0.001  # a held setpoint this close is the command
    # a peer not heard from this long is shown stale, not as its last state, and leaves the
    # residual; none: three cycles (GM + SC + LB phase times)
    peer_stale_s: Positive | None = None
    # who balances with whom: FREEDM's invitation election each GM phase (nodes that fail
    # leave the group, nodes that return rejoin), or every node of the site file, always
    group_management: Literal["election", "static"] = "election"


class EvSettings(Model):
    """EV charging requests (``POST /api/v1/charge``): what a request that leaves a field out
    gets, the limits of a request, how they are routed (docs/ev-charging.md)."""

    enabled: bool = True  # every node takes charging requests and charging sessions
    power_kw: Positive = 7.0  # a request without power_kw
    duration_s: Positive = 3600.0  # a request without energy_kwh or duration_s
    min_power_kw: Positive = 1.4  # the least a session may be granted (6 A at 230 V)
    max_power_kw: Positive = 350.0  # the most a request may ask for
    max_duration_s: Positive = 604_800.0  # a week (the most a peer message carries)
    # route by the load each substation is predicted to reach over the session (its base
    # load's trend), not by its load now; needs count_base_load
    routing: Literal["instant", "predictive"] = "instant"
    # the substation's other load (its Load devices) counts against its charging capacity
    count_base_load: bool = False
    hold_s: Positive = 5.0  # a target holds an admission this long for the entry's confirmation
    # an entry node's wait for a target's answer before it asks the next one: long enough
    # for a loaded host (a rush of 500 takes a second here), short enough for a dead target
    answer_timeout_s: Positive = 2.0
    trend_tau_s: Positive = 60.0  # the time constant of the base-load trend (predictive)

    @model_validator(mode="after")
    def _consistent(self) -> EvSettings:
        problems = []
        if not self.min_power_kw <= self.power_kw <= self.max_power_kw:
            problems.append("power_kw must be within min_power_kw..max_power_kw")
        if self.duration_s > self.max_duration_s:
            problems.append("duration_s must be at most max_duration_s")
        if self.max_duration_s > 604_800.0:
            problems.append("max_duration_s must be at most 604800 (a week)")
        if self.routing == "predictive" and not self.count_base_load:
            problems.append('routing = "predictive" needs count_base_load = true (it predicts '
                            "the base load)")  # fmt: skip
        if self.answer_timeout_s >= self.hold_s:
            problems.append("answer_timeout_s must be shorter than hold_s")
        if problems:
            raise ValueError("; ".join(problems))
        return self


#: The networks pandapower builds by name.
BUILTIN_NETWORKS = ("cigre-mv", "mv-oberrhein")

PlantKind = Literal["simple", "pandapower"]


def _network(value: str) -> str:
    if value not in BUILTIN_NETWORKS and not value.endswith(".json"):
        raise ValueError(f"must be one of {', '.join(BUILTIN_NETWORKS)} or a pandapower .json file")
    return value


class GridSettings(Model):
    """``[grid]``: the network, where each node sits on it, and the scales."""

    network: Annotated[str, AfterValidator(_network)] = "cigre-mv"
    buses: dict[str, int | str] = Field(default_factory=dict)  # node id -> bus index or name
    kw_scale: Positive = 20.0  # network kW per device kW
    load_scale: NonNegative = 0.6  # times the network's own loads and generators
    tick_s: Positive = 1.0  # a power flow at most this often (plant time)


class SimulationSettings(Model):
    """The simulated bus shared by all substations of a site."""

    nominal_frequency: Positive = 376.8
    droop: NonNegative = 0.05
    # where `dgi simulate` listens for fault-injection commands (`dgi fault`); none: no control
    control: HostPort | None = None
    # the profile clock: series (csv, steps, ramps) advance time_scale seconds per second and
    # start at profile_start_s — a day of profiles in 4 minutes is time_scale = 360; the
    # plant's physics (SST lag, battery energy) always run in real time
    time_scale: Positive = 1.0
    profile_start_s: NonNegative = 0.0
    # the plant behind the simulated devices: "simple" (one shared bus) or "pandapower" (an
    # AC power flow of the [grid] feeder; needs the grid extra)
    plant: PlantKind = "simple"
