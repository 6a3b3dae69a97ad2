"""Peer messages: the base every module's messages derive from, the catalogue that names them
on the wire, their bodies, and the checks every message passes.

Each module owns its messages in its own package (``controller/lb/messages.py``, …), each a
frozen dataclass deriving from :class:`Message` with the module's ``namespace``: the node core
routes a message to the module of that name. The node core's own messages (``DuplicateId``)
have the namespace ``node``. :mod:`controller.catalogue` lists every message of the site.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, fields
from typing import Any, ClassVar


class MalformedMessage(ValueError):
    """The body does not have the shape of its message type."""


class InvalidMessage(ValueError):
    """Well formed, but a value is outside what the receiver accepts."""


@dataclass(frozen=True)
class Limits:
    """What a receiver accepts: amounts and ages up to ``max_amount`` kW."""

    max_amount: float


class Message:
    """A peer message; subclasses are frozen dataclasses with ``int``, ``float`` and ``str``
    fields, or tuples of one of them (``tuple[float, ...]``; at most :data:`MAX_ITEMS`).
    ``namespace`` names the module that handles it."""

    namespace: ClassVar[str] = ""

    def check(self, limits: Limits) -> None:
        """Raise :class:`InvalidMessage` when a value is not acceptable (beyond the shape and
        the finite numbers every message is held to)."""


@dataclass(frozen=True)
class DuplicateId(Message):
    """Peer → node: "I hear your id from two processes at once, boot epochs a and b"."""

    namespace: ClassVar[str] = "node"
    epoch_a: int
    epoch_b: int


NODE_MESSAGES: tuple[type[Message], ...] = (DuplicateId,)


@dataclass(frozen=True)
class Catalogue:
    """Every message type by its wire name (the class name, unique across namespaces)."""

    types: Mapping[str, type[Message]]

    @classmethod
    def of(cls, *groups: Iterable[type[Message]]) -> Catalogue:
        types: dict[str, type[Message]] = {}
        for group in groups:
            for kind in group:
                if not kind.namespace:
                    raise ValueError(f"message {kind.__name__} has no namespace")
                if kind.__name__ in types:
                    raise ValueError(f"two messages named {kind.__name__}")
                types[kind.__name__] = kind
        return cls(types)

    def __contains__(self, name: object) -> bool:
        return name in self.types

    def namespaces(self) -> frozenset[str]:
        return frozenset(kind.namespace for kind in self.types.values())

    def from_body(self, type_name: str, body: object) -> Message:
        """Rebuild a message from its wire body; raise :class:`MalformedMessage` on any
        mismatch."""
        cls = self.types.get(type_name)
        if cls is None:
            raise MalformedMessage(f"unknown message type {type_name!r}")
        wanted = _fields(cls)
        if not isinstance(body, list) or len(body) != len(wanted):
            raise MalformedMessage(f"{type_name} needs {len(wanted)} fields")
        values: list[Any] = []
        for spec, value in zip(wanted, body, strict=True):
            values.append(_field(type_name, spec.name, spec.type, value))
        return cls(*values)


def to_body(message: Message) -> list[Any]:
    body = [getattr(message, f.name) for f in _fields(type(message))]
    return [list(v) if isinstance(v, tuple) else v for v in body]


_FIELDS: dict[type, tuple[Field[Any], ...]] = {}


def _fields(cls: type) -> tuple[Field[Any], ...]:
    """A message class's fields (``dataclasses.fields`` is slow, and asked every datagram)."""
    found = _FIELDS.get(cls)
    if found is None:
        found = _FIELDS[cls] = fields(cls)
    return found


#: The most items a tuple field may carry (a collected state names every member of a group).
MAX_ITEMS = 1024

_TUPLES = {f"tuple[{item}, ...]": item for item in ("int", "float", "str")}


def _field(type_name: str, name: str, kind: object, value: object) -> object:
    item = _TUPLES.get(str(kind))
    if item is not None:
        if not isinstance(value, list | tuple) or len(value) > MAX_ITEMS:
            raise MalformedMessage(f"{type_name}.{name} must be a list of at most {MAX_ITEMS}")
        return _items(type_name, name, item, value)
    if kind in ("int", int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise MalformedMessage(f"{type_name}.{name} must be an integer")
        return value
    if kind in ("float", float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MalformedMessage(f"{type_name}.{name} must be a number")
        return float(value)
    if not isinstance(value, str):
        raise MalformedMessage(f"{type_name}.{name} must be a string")
    return value


_ITEM_TYPES: dict[str, tuple[type, ...]] = {"int": (int,), "float": (int, float), "str": (str,)}


def _items(type_name: str, name: str, item: str, value: list[Any] | tuple[Any, ...]) -> object:
    """A tuple field's items, checked by exact type (``True`` is no integer)."""
    allowed = _ITEM_TYPES[item]
    if not all(type(v) in allowed for v in value):
        raise MalformedMessage(f"{type_name}.{name} must be a list of {item}")
    return tuple(float(v) for v in value) if item == "float" else tuple(value)


def validate(message: Message, limits: Limits) -> None:
    """Raise :class:`InvalidMessage` when a value is not acceptable: every number finite,
    then the message's own rules (docs/algorithm.md, "Two modes, one state machine")."""
    for spec in fields(message):  # type: ignore[arg-type]
        value = getattr(message, spec.name)
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, float) and not math.isfinite(item):
                raise InvalidMessage(f"{spec.name} = {item} is not finite")
    message.check(limits)
