"""What an imported site holds, before it is written as TOML (pure data)."""

from __future__ import annotations

from dataclasses import dataclass, field

from config.freedm.sources import Note
from config.rtds import RtdsAdapter
from config.timings import DEFAULT_PROFILE, ProfileName


@dataclass(frozen=True)
class NodePlan:
    """A ``[[nodes]]`` row for one FREEDM DGI: its uuid (host:port) is its peer address."""

    id: str
    uuid: str
    peer: str
    api: str
    local: bool  # the DGI whose adapter file was read: it gets the devices


@dataclass(frozen=True)
class DevicePlan:
    """A device carried by an rtds adapter; ``freedm`` is its name in ``adapter.xml``."""

    id: str
    type: str
    adapter: str
    freedm: str


@dataclass
class Plan:
    site_name: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (role, file name)
    nodes: list[NodePlan] = field(default_factory=list)
    adapters: list[RtdsAdapter] = field(default_factory=list)
    devices: list[DevicePlan] = field(default_factory=list)
    migration_step: float = 1.0
    malicious: bool = False
    check_invariant: bool = False
    timings_profile: ProfileName = DEFAULT_PROFILE
    timings_note: str = ""
    timings: dict[str, int] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)
