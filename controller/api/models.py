"""The node's snapshot and the shapes the status API answers with (they document the OpenAPI
file): defined once here, built by the node (:mod:`controller.node.snapshot`), read by the API
app, readiness and the metrics."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from controller.api.grid import Grid


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counters(BaseModel):
    rounds: int = Field(description="LB rounds run since start")
    cycles: int = Field(description="LB phases started (one per GM/SC/LB cycle)")
    round_overruns: int
    migrations_in: int
    migrations_out: int
    command_disagreements: int = Field(
        description="times the actuator stopped holding the node's command"
    )
    write_errors: int = Field(description="actuator writes that failed (each written again)")
    failsafe_releases: int = Field(description="times the node released to failsafe values")


class Timing(BaseModel):
    round_s: float
    cycle_s: float
    last_round_at: float | None = Field(description="Unix time of the last LB round")
    first_cycle_at: float | None


class DeviceFreshness(BaseModel):
    id: str
    type: str
    stale: bool
    last_read: float | None


class Disagreement(BaseModel):
    held: float | None = Field(
        description="the setpoint the actuator holds (read back); null: it reads no value"
    )
    commanded: float = Field(description="the setpoint the node commanded and was acknowledged")
    since: float = Field(description="Unix time the disagreement was first seen")


class DeviceHealth(BaseModel):
    state: Literal["healthy", "failing", "recovering", "released"]
    since: float | None = Field(description="Unix time of the first bad round of this episode")
    recovering_since: float | None
    hold_s: float = Field(description="failing this long releases to failsafe values")
    recovery_s: float = Field(description="devices must answer this long to be trusted again")


class Status(BaseModel):
    node: str
    site: str
    mode: Literal["freedm", "adaptive"]
    leader: str
    group: list[str] = Field(description="the members of this node's group, itself included")
    group_id: str = Field(description="unique per leader and boot: node.epoch.counter")
    gm: GroupManagement | None
    state_collection: StateCollection
    site_nodes: int = Field(description="nodes in the site file")
    state: Literal["supply", "demand", "normal"]
    gateway: float = Field(description="G: measured gateway (kW), + = export to the bus")
    net_generation: float = Field(description="NG: generation + storage - drain (kW)")
    predicted_gateway: float = Field(description="PG: the gateway the node has commanded (kW)")
    k: float = Field(description="K: predicted gross power flow of the group (kW)")
    pstar: float | None = Field(description="the PStar the actuator holds, read back (kW)")
    commanded: float | None = Field(description="the PStar the node commands: its ledger (kW)")
    disagreement: Disagreement | None = Field(
        description="the actuator does not hold the command (null when it does)"
    )
    residual: float = Field(
        description="Σ (NG - PG) over the group as last collected: what migrations cannot "
        "balance (kW)"
    )
    synchronised: bool
    enabled: bool = Field(description="operator gate (PUT /api/v1/control)")
    dgi_enable: bool | None = Field(description="the Logger's dgiEnable; null without a Logger")
    released: bool = Field(description="actuators released to failsafe values")
    health: DeviceHealth
    started_at: float | None = Field(description="Unix time this node process started")
    counters: Counters
    timing: Timing
    devices: list[DeviceFreshness]
    grid: Grid = Field(description="the bus of this substation, as its grid meter reads it")


PeerState = Literal["supply", "demand", "normal", "stale", "unknown"]


class LoadTableNode(BaseModel):
    id: str
    state: PeerState = Field(description="what the node recorded for the last state "
                             "collection; stale when none reached this node within the stale "
                             "time; unknown before")  # fmt: skip
    age_s: float | None = Field(description="seconds since that collection (0: this node)")
    this_node: bool


class LoadTable(BaseModel):
    text: str = Field(description="the table as FREEDM prints it")
    net_drer: float
    net_desd: float
    net_load: float
    counts: dict[str, int]
    gateway: float
    net_generation: float
    predicted_k: float
    residual: float = Field(description="Σ (NG - PG) over the group: what cannot be balanced")
    nodes: list[LoadTableNode]


class Point(BaseModel):
    name: str
    signal: str
    value: float | None
    unit: str
    timestamp: float | None
    access: str
    role: list[str]


class Device(BaseModel):
    id: str
    type: str
    profile: str
    stale: bool
    last_read: float | None
    error: str | None
    requests: int
    errors: int
    points: list[Point]


class PeerStatus(BaseModel):
    state: str
    gateway: float | None = Field(description="null for a node without an Sst")
    net_generation: float
    predicted_gateway: float


class Peer(BaseModel):
    """Every other node of the site; ``in_group``: a member of this node's group now."""

    id: str
    in_group: bool
    state: PeerState = Field(description="what the peer recorded for the last state "
                             "collection; stale when none came within the stale time")  # fmt: skip
    age_s: float | None = Field(description="seconds since that collection reached this node")
    status: PeerStatus | None = Field(description="the peer's figures in that collection")
    draft_set: str | None = Field(
        description="where the drafting algorithm keeps the peer (FREEDM's peer sets): its "
        "own bookkeeping, not the peer's state"
    )
    last_seen: float | None
    delay_ms: float | None = Field(
        description="age of its last datagram on arrival: network delay plus clock difference"
    )
    accepted: int
    dropped: dict[str, int] = Field(description="datagrams dropped, by reason")


class GroupMember(BaseModel):
    id: str
    state: PeerState
    age_s: float | None = Field(description="seconds since its last collected state (0: this "
                                "node)")  # fmt: skip
    gateway: float | None = Field(description="None until a collected state names the peer "
                                  "with an Sst")  # fmt: skip
    net_generation: float | None
    predicted_gateway: float | None


class RoundEvent(BaseModel):
    """One LB round: this node, and the group as it last heard of it."""

    node: str
    time: float
    round: int
    duration_s: float
    state: str
    k: float
    residual: float
    leader: str
    group_id: str
    group: list[GroupMember]


class LedgerEntry(BaseModel):
    seq: int = Field(description="the entry's id; every entry is one write")
    kind: Literal[
        "start", "supply", "demand", "rollback", "hold", "adopt", "resync", "reassert", "track"
    ]
    amount: float = Field(description="the change of the command (kW; 0 for a write again)")
    pstar: float = Field(description="the command after this entry (kW)")
    setpoint: float = Field(description="the value written to the actuator")
    at: float
    peer: str | None
    tx: int | None = Field(description="the draft transaction (adaptive mode)")
    written: bool = Field(description="a write carrying it went to the device")
    acknowledged: bool = Field(description="the device acknowledged it")


class LedgerSummary(BaseModel):
    initial: float = Field(description="the command the node started from (kW)")
    command: float
    setpoint: float
    migrated: float = Field(description="Σ of migrations: supply +, demand -, rollbacks (kW)")
    adjusted: float = Field(description="Σ of changes that are not migrations (kW)")
    seq: int
    sent_seq: int
    acked_seq: int
    acked_setpoint: float | None
    pending_since: float | None = Field(
        description="Unix time of the oldest change the device has not acknowledged"
    )


class Ledger(BaseModel):
    """command = initial + migrated + adjusted; the entries are the newest 50."""

    summary: LedgerSummary
    entries: list[LedgerEntry]


class Control(Strict):
    enabled: StrictBool = Field(
        description="false: the node holds its gateway and takes no part (true/false only)"
    )


class ChargeSession(BaseModel):
    session_id: str
    ev_id: str
    substation: str = Field(description="the node whose chargers serve it")
    granted_kw: float = Field(description="the power granted (the asked power, or less)")
    started: float = Field(description="Unix time")
    expected_end: float = Field(description="Unix time it ends (its energy or duration)")


class ChargeBooked(ChargeSession):
    entry: str = Field(description="the node that took the request")


class ChargeFull(BaseModel):
    error: str
    retry_after_s: int = Field(description="also in the Retry-After header")


class ChargeInvalid(BaseModel):
    error: str = Field(description="names the field and the rule")
    field: str


class Sessions(BaseModel):
    node: str
    sessions: list[ChargeSession]


class SessionEnded(ChargeSession):
    ended: float


class Health(BaseModel):
    status: Literal["ok"]
    node: str


class Readiness(BaseModel):
    ready: bool
    reasons: list[str]


class Error(BaseModel):
    error: str


class Invalid(BaseModel):
    """A parameter or the body did not validate: ``error`` names each field and rule."""

    error: str
    details: list[dict[str, Any]]


class Recent(BaseModel):
    window_s: float
    datagrams: dict[str, int] = Field(description="datagram results of the window, by result")
    overruns: int
    overrun_window_s: float


class Duplicates(BaseModel):
    peers: dict[str, list[int]] = Field(description="peer ids heard from two processes")
    this_node: dict[str, int] = Field(description="peers that hear this id twice: the epoch")


class Histogram(BaseModel):
    buckets: list[tuple[float, int]] = Field(description="cumulative (le, count)")
    sum: float
    count: int


class Histograms(BaseModel):
    round_duration_seconds: Histogram
    migration_latency_seconds: Histogram


class Substation(BaseModel):
    load_kw: float
    capacity_kw: float
    charging_sessions: int = Field(description="active EV sessions booked here")
    charge_requests: int = Field(description="charging requests answered as entry node")
    ev_capacity_kw: float = Field(0.0, description="what its EV sessions may take together")
    ev_booked_kw: float = Field(0.0, description="the granted power of its active sessions")
    ev_sessions_total: int = Field(0, description="sessions booked here since start")
    ev_refused_total: int = Field(0, description="admissions refused here (no capacity)")
    charge_answers: dict[str, int] = Field(
        default_factory=dict, description="entry answers by result: booked, full, invalid"
    )


class GroupManagement(BaseModel):
    """The node's group management (null with ``group_management = "static"``)."""

    status: Literal["normal", "election", "reorganization"]
    elections: int = Field(description="groups this node formed as their leader")
    recoveries: int = Field(description="times this node started over as a group of one")
    dropped: dict[str, int] = Field(description="GM inputs dropped, by reason")


class CollectionRecord(BaseModel):
    """One state collection: the group's state as its leader collected it."""

    snapshot: int
    leader: str
    received: float = Field(description="Unix time it reached this node")
    took_ms: float = Field(description="the leader's time from its marker to the last answer")
    k: float = Field(description="K: the sum of the collected Sst gateways (kW)")
    answered: list[str] = Field(description="the nodes whose state it holds")
    missing: list[str] = Field(description="members that did not answer within the time-out")
    in_transit_kw: float = Field(description="migrations in the channels when it was taken")


class StateCollection(BaseModel):
    """The node's state collection: the last one that reached it and its counts."""

    last: CollectionRecord | None
    collections: int = Field(description="collections this node completed as leader")
    partial: int = Field(description="of which some member did not answer")
    rounds_lost: int = Field(description="LB rounds that could have drafted but had no "
                             "collected state of the cycle yet")  # fmt: skip
    lb_phases: int
    dropped: dict[str, int] = Field(description="state-collection inputs dropped, by reason")


class Snapshot(BaseModel):
    """Everything a node publishes after a round; ``/api/v1/status`` is a part of it."""

    node: str
    site: str
    mode: Literal["freedm", "adaptive"]
    time: float
    leader: str
    group: list[str]
    group_id: str
    gm: GroupManagement | None
    state_collection: StateCollection
    site_nodes: int
    state: Literal["supply", "demand", "normal"]
    gateway: float
    net_generation: float
    predicted_gateway: float
    k: float
    pstar: float | None
    commanded: float | None
    disagreement: Disagreement | None
    residual: float
    synchronised: bool
    enabled: bool
    dgi_enable: bool | None
    released: bool
    health: DeviceHealth
    ledger: Ledger
    recent: Recent
    duplicates: Duplicates
    started_at: float | None
    counters: Counters
    migration_outcomes: list[tuple[str, str, int]] = Field(
        description="(direction, outcome, count)"
    )
    timing: Timing
    devices: list[Device]
    peers: list[Peer]
    datagrams: list[tuple[str, str, int]] = Field(description="(type, result, count)")
    load_table: LoadTable
    histograms: Histograms
    substation: Substation
    grid: Grid

    def status(self) -> Status:
        """The part ``/api/v1/status`` answers with."""
        fields = set(Status.model_fields) - {"devices"}
        devices = [
            DeviceFreshness(id=d.id, type=d.type, stale=d.stale, last_read=d.last_read)
            for d in self.devices
        ]
        return Status.model_validate({**{k: getattr(self, k) for k in fields}, "devices": devices})
