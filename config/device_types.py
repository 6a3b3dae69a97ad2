"""Device types and their signals, loaded from ``device_types.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DEVICE_TYPES_FILE = Path(__file__).with_name("device_types.toml")


@dataclass(frozen=True)
class DeviceType:
    """A kind of device: the signals a controller reads (states) and writes (commands)."""

    name: str
    description: str
    states: tuple[str, ...]
    optional_states: tuple[str, ...]
    commands: tuple[str, ...]

    @property
    def signals(self) -> frozenset[str]:
        return frozenset(self.states + self.optional_states + self.commands)


@cache
def device_types() -> dict[str, DeviceType]:
    """All known device types by name (``Sst``, ``Desd``, ...)."""
    raw = tomllib.loads(DEVICE_TYPES_FILE.read_text(encoding="utf-8"))
    return {
        name: DeviceType(
            name=name,
            description=str(body.get("description", "")),
            states=tuple(body.get("states", ())),
            optional_states=tuple(body.get("optional_states", ())),
            commands=tuple(body.get("commands", ())),
        )
        for name, body in raw.items()
    }
