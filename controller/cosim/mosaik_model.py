"""What mosaik sees of a site's plant and of its nodes (pure: no mosaik import, no I/O).

:mod:`controller.cosim.mosaik_sims` wraps these two sides in mosaik's simulator API; the sides
themselves are plain objects stepped with mosaik's ``inputs`` and asked for outputs, so they
are tested without a world.

Entities and attributes (one mosaik entity per device, its model the device type):

* a state signal is an attribute of its own name (``gateway``, ``soc``, ``generation``);
* a command signal ``c`` is two: ``c_set`` (a write: the plant's input, the nodes' output)
  and ``c_held`` (what the command point holds: the plant's output, the nodes' input) — the
  Sst's state and command are both called ``gateway``;
* a Drer's ``generation`` and a Load's ``drain`` are also plant inputs: another simulator's
  profile drives them (the lab override of ``dgi simulate``).

Time: mosaik's integer time times its ``time_resolution`` is plant time in seconds (plant
time 0 is mosaik time 0); a node's clock is ``NODE_EPOCH`` + plant time. A value ``None``
means nothing (no write this step, nothing measured) and is not applied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from config.device_types import device_types
from config.site import Device

SET, HELD = "_set", "_held"
#: The states another simulator may drive (a profile into the plant).
OVERRIDABLE: dict[str, tuple[str, ...]] = {"Drer": ("generation",), "Load": ("drain",)}
NODE_EPOCH = 1_000_000.0  # a node's clock at plant time 0 (as the virtual group's start)
#: What a NodesSim's node entity shows observers.
NODE_ATTRS = ["G", "NG", "pstar", "state", "migrations"]
#: What a PlantSim's substation entity shows: the plant's own sums for one node.
SUBSTATION_ATTRS = ["gateway", "net_generation", "grid_import"]

#: mosaik's inputs: entity -> attribute -> source entity's full id -> value.
Inputs = Mapping[str, Mapping[str, Mapping[str, object]]]


def type_attrs(type_name: str) -> list[str]:
    """Every attribute a device of ``type_name`` may have (a mosaik model's ``attrs``)."""
    kind = device_types()[type_name]
    commands = [c + suffix for c in kind.commands for suffix in (SET, HELD)]
    return [*kind.states, *kind.optional_states, *commands]


def models_meta(types: Iterable[str], root: str, root_params: list[str]) -> dict[str, object]:
    """A time-based simulator's meta: a public ``root`` model whose entity has every device
    (and substation or node) as a child, and a model per device type."""
    models: dict[str, object] = {
        root: {"public": True, "params": root_params, "attrs": []},
        "Substation": {"public": False, "params": [], "attrs": SUBSTATION_ATTRS},
        "Node": {"public": False, "params": [], "attrs": NODE_ATTRS},
    }
    for type_name in sorted(set(types)):
        models[type_name] = {"public": False, "params": [], "attrs": type_attrs(type_name)}
    return {"api_version": "3.0", "type": "time-based", "models": models}


def single(eid: str, attr: str, sources: Mapping[str, object]) -> object:
    """The one value sent to ``eid.attr`` (two simulators driving one attribute is a
    scenario error: which would win is not ours to guess)."""
    if len(sources) > 1:
        named = ", ".join(sorted(sources))
        raise ValueError(f"{eid}.{attr} has several sources ({named}); connect one")
    return next(iter(sources.values()), None)


def number(eid: str, attr: str, value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{eid}.{attr} got {value!r}: a number or None")
    return float(value)


@dataclass(frozen=True)
class Port:
    """One input or output attribute of a device entity: its device signal and role."""

    signal: str
    role: str  # "state", "set" (a write) or "held" (a command point's value)


@cache
def port(type_name: str, attr: str) -> Port:
    """What ``attr`` of a ``type_name`` entity means (asked for every value of every step)."""
    kind = device_types()[type_name]
    for suffix, role in ((SET, "set"), (HELD, "held")):
        if attr.endswith(suffix) and attr[: -len(suffix)] in kind.commands:
            return Port(attr[: -len(suffix)], role)
    if attr in kind.states or attr in kind.optional_states:
        return Port(attr, "state")
    raise KeyError(f"a {type_name} has no attribute {attr!r}; its attributes: "
                   f"{', '.join(type_attrs(type_name))}")  # fmt: skip


def device_ports(device: Device) -> tuple[list[str], list[str]]:
    """``device``'s attributes by its profile: what the plant feeds the nodes (its states,
    its readable command points' held values) and what the nodes write (``c_set``)."""
    points = device.profile.points
    fed = sorted({p.signal for p in points if p.is_state})
    fed += sorted({p.signal + HELD for p in points if p.is_command and p.readable})
    sets = sorted({p.signal + SET for p in points if p.is_command and p.writable})
    return fed, sets
