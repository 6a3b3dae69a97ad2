"""The site file: nodes, their devices, and site-wide settings (schema only).

Cross-checks that need the whole file (duplicates, profiles, transports) live in
:mod:`config.loader`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from config.addresses import HostPort, split_host_port, valid_host
from config.profile import Profile
from config.rtds import RtdsAdapter
from config.schema import Model, Name, Positive, in_range
from config.settings import (
    AlgorithmSettings,
    EvSettings,
    GridSettings,
    SimulationSettings,
    SiteHeader,
)
from config.simulation import DeviceSim
from config.timings import Timings, TimingsSettings
from config.topology import Topology

Transport = Literal["modbus_tcp", "modbus_rtu", "simulated", "fake", "ocpp", "rtds"]
#: Transports whose devices ``dgi simulate`` serves.
SIMULATED = "simulated"
#: An EV charger speaking OCPP 1.6J: it connects to its node's central system at
#: ``ws://HOST:PORT/ocpp/<device id>`` (``host``/``port``: where the node listens).
OCPP = "ocpp"
#: The profile of an ``ocpp`` device that names none (its points' names, limits, failsafe).
OCPP_PROFILE = "evse-ocpp"

__all__ = [
    "OCPP",
    "OCPP_PROFILE",
    "Device",
    "DeviceEntry",
    "HostPort",
    "NodeEntry",
    "Site",
    "split_host_port",
]


class DeviceEntry(Model):
    """One ``[[nodes.devices]]`` row."""

    id: Name
    type: str
    transport: Transport
    # its register map, config/profiles/NAME.toml (required; transport ocpp: evse-ocpp)
    profile: str | None = None
    host: Annotated[str, AfterValidator(valid_host)] | None = None
    port: Annotated[int, AfterValidator(in_range(0, 65535))] | None = None
    unit: Annotated[int, AfterValidator(in_range(0, 255))] = 1
    serial_port: str | None = None
    baudrate: Annotated[int, AfterValidator(in_range(50, 4_000_000))] = 19200
    parity: Literal["N", "E", "O"] = "N"
    bytesize: Literal[7, 8] = 8
    stopbits: Literal[1, 2] = 1
    timeout_s: Positive = 1.0
    verify: bool = False
    stale_after_s: Positive = 2.0
    values: dict[str, float] = Field(default_factory=dict)
    sim: dict[str, Any] | None = None
    adapter: Name | None = None  # transport rtds: the [[rtds]] adapter that carries it


class NodeEntry(Model):
    """One ``[[nodes]]`` row: a controller process and its devices."""

    id: Name
    api: HostPort
    peer: HostPort
    capacity_kw: Positive = 100.0
    # the power its EV charging sessions may take together (none: capacity_kw)
    ev_capacity_kw: Annotated[float, Field(gt=0, le=1e12)] | None = None
    devices: list[DeviceEntry] = Field(default_factory=list)


class SiteDocument(Model):
    """The whole site file."""

    site: SiteHeader
    algorithm: AlgorithmSettings = AlgorithmSettings()
    timings: TimingsSettings = TimingsSettings()
    ev: EvSettings = EvSettings()
    simulation: SimulationSettings = SimulationSettings()
    grid: GridSettings = GridSettings()  # the feeder of the pandapower plant
    rtds: list[RtdsAdapter] = Field(default_factory=list)  # FREEDM's RTDS adapters
    nodes: list[NodeEntry]


@dataclass(frozen=True)
class Device:
    """A device of a loaded site: its entry, its node, its profile and its sim parameters."""

    node_id: str
    entry: DeviceEntry
    profile: Profile
    sim: DeviceSim | None
    rtds: RtdsAdapter | None = None  # the adapter that carries it (transport rtds)

    @property
    def id(self) -> str:
        return self.entry.id

    @property
    def type(self) -> str:
        return self.entry.type

    @property
    def simulated(self) -> bool:
        """Served over Modbus by ``dgi simulate``."""
        return self.entry.transport == SIMULATED

    @property
    def simulated_charge_point(self) -> bool:
        """An OCPP charger that ``dgi simulate`` plays (it has a ``sim`` table): a charge
        point that connects to its node; an ``ocpp`` device without one is a real charger."""
        return self.entry.transport == OCPP and self.entry.sim is not None

    @property
    def in_plant(self) -> bool:
        """Part of the simulated plant (served over Modbus, or a simulated charge point)."""
        return self.simulated or self.simulated_charge_point


@dataclass(frozen=True)
class Site:
    """A validated site: the document plus everything resolved from it."""

    path: str
    document: SiteDocument
    devices: tuple[Device, ...]
    timings: Timings
    topology: Topology | None = None  # [site] topology_file, read and checked

    @property
    def name(self) -> str:
        return self.document.site.name

    @property
    def nodes(self) -> list[NodeEntry]:
        return self.document.nodes

    @property
    def algorithm(self) -> AlgorithmSettings:
        return self.document.algorithm

    @property
    def ev(self) -> EvSettings:
        return self.document.ev

    @property
    def simulation(self) -> SimulationSettings:
        return self.document.simulation

    @property
    def grid(self) -> GridSettings:
        return self.document.grid

    def node(self, node_id: str) -> NodeEntry:
        for node in self.nodes:
            if node.id == node_id:
                return node
        known = ", ".join(n.id for n in self.nodes)
        raise KeyError(f"site {self.name} has no node {node_id!r}; nodes: {known}")

    def devices_of(self, node_id: str) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.node_id == node_id)

    def device(self, device_id: str) -> Device:
        for device in self.devices:
            if device.id == device_id:
                return device
        raise KeyError(f"site {self.name} has no device {device_id!r}")
