"""The shapes the status API answers with (they document the OpenAPI file)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool


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
    group: list[str]
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
        description="Σ (NG - PG) over the group as heard: what migrations cannot balance (kW)"
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


PeerState = Literal["supply", "demand", "normal", "stale", "unknown"]


class LoadTableNode(BaseModel):
    id: str
    state: PeerState = Field(description="what the node last said of itself; stale when it "
                             "was not heard within the stale time; unknown before")  # fmt: skip
    age_s: float | None = Field(description="seconds since that was heard (0: this node)")
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
    gateway: float
    net_generation: float
    predicted_gateway: float


class Peer(BaseModel):
    id: str
    state: PeerState = Field(description="what the peer last said of itself (its Status); "
                             "stale when not heard within the stale time")  # fmt: skip
    age_s: float | None = Field(description="seconds since its last Status")
    status: PeerStatus | None = Field(description="the peer's last Status message")
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
    age_s: float | None = Field(description="seconds since its last Status (0: this node)")
    gateway: float | None = Field(description="None until the peer was heard")
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
