"""The shapes the status API answers with (they document the OpenAPI file)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Counters(BaseModel):
    rounds: int = Field(description="LB rounds run since start")
    cycles: int = Field(description="LB phases started (one per GM/SC/LB cycle)")
    round_overruns: int
    migrations_in: int
    migrations_out: int


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
    pstar: float | None = Field(
        description="the PStar the actuator holds: last written, or read back at start (kW)"
    )
    synchronised: bool
    enabled: bool = Field(description="operator gate (PUT /api/v1/control)")
    dgi_enable: bool | None = Field(description="the Logger's dgiEnable; null without a Logger")
    released: bool = Field(description="actuators released to failsafe values")
    counters: Counters
    timing: Timing
    devices: list[DeviceFreshness]


class LoadTableNode(BaseModel):
    id: str
    state: str | None
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
    state: str | None = Field(description="the peer's state as this node's peer sets hold it")
    status: PeerStatus | None = Field(description="the peer's last Status message")
    last_seen: float | None
    accepted: int
    dropped: dict[str, int] = Field(description="datagrams dropped, by reason")


class GroupMember(BaseModel):
    id: str
    state: str
    gateway: float
    net_generation: float
    predicted_gateway: float


class RoundEvent(BaseModel):
    """One LB round: this node, and the group as it last heard of it."""

    node: str
    time: float
    round: int
    duration_s: float
    state: str
    k: float
    group: list[GroupMember]


class Control(Strict):
    enabled: bool = Field(description="false: the node holds its gateway and takes no part")


class Health(BaseModel):
    status: Literal["ok"]
    node: str


class Readiness(BaseModel):
    ready: bool
    reasons: list[str]


class Error(BaseModel):
    error: str
