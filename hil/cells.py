"""The simulation server's shared table: one cell per (device, signal), states and commands.

FREEDM's simulation server keeps two global tables keyed by (device, signal) strings; every
adapter's entry with the same key is the *same* cell (HIL.md §3), which is how one PSCAD run
feeds many controllers. :class:`Cells` is that table and nothing else: the protocol handlers
(:mod:`hil.server`), the built-in plant (:mod:`hil.plant`) and the Modbus exposures
(:mod:`hil.modbus`) read and write it through the same few methods. A cell never written
holds :data:`NO_VALUE` (1e8, FREEDM's ``NULL_COMMAND``). Listeners registered with
:meth:`Cells.subscribe` hear every write, so other code can react without polling.

The server runs on one asyncio loop, so the table needs no locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

#: "No value": a command never set, a state never measured (FREEDM's NULL_COMMAND).
NO_VALUE = 1e8

Key = tuple[str, str]  # (device, signal)
Table = Literal["state", "command"]
Listener = Callable[[Table, Key, float], None]


@dataclass
class Cells:
    """The shared state and command cells of a simulation server."""

    states: dict[Key, float] = field(default_factory=dict)
    commands: dict[Key, float] = field(default_factory=dict)
    _listeners: list[Listener] = field(default_factory=list)

    @classmethod
    def for_keys(
        cls,
        states: Iterable[Key],
        commands: Iterable[Key],
        initial_states: Mapping[Key, float] | None = None,
        initial_commands: Mapping[Key, float] | None = None,
    ) -> Cells:
        """Cells for these keys, each :data:`NO_VALUE` unless given an initial value."""
        cells = cls()
        for key in states:
            cells.states[key] = NO_VALUE
        for key in commands:
            cells.commands[key] = NO_VALUE
        cells.states.update(initial_states or {})
        cells.commands.update(initial_commands or {})
        return cells

    def subscribe(self, listener: Listener) -> None:
        """Call ``listener(table, key, value)`` after every write."""
        self._listeners.append(listener)

    def state(self, key: Key) -> float:
        return self.states.get(key, NO_VALUE)

    def command(self, key: Key) -> float:
        return self.commands.get(key, NO_VALUE)

    def set_state(self, key: Key, value: float) -> None:
        self.states[key] = value
        self._tell("state", key, value)

    def set_command(self, key: Key, value: float) -> None:
        self.commands[key] = value
        self._tell("command", key, value)

    def read_states(self, keys: Sequence[Key]) -> list[float]:
        return [self.state(key) for key in keys]

    def read_commands(self, keys: Sequence[Key]) -> list[float]:
        return [self.command(key) for key in keys]

    def store_commands(self, keys: Sequence[Key], values: Sequence[float]) -> int:
        """A controller's command packet: store every value that is not :data:`NO_VALUE`;
        return how many were stored."""
        stored = 0
        for key, value in zip(keys, values, strict=True):
            if value != NO_VALUE:
                self.set_command(key, value)
                stored += 1
        return stored

    def overwrite_states(self, keys: Sequence[Key], values: Sequence[float]) -> None:
        """PSCAD's ``SET``: every state of the table, in index order (1e8 included)."""
        for key, value in zip(keys, values, strict=True):
            self.set_state(key, value)

    def reset(self, keys: Sequence[Key], values: Sequence[float]) -> None:
        """PSCAD's ``RST``: ``SET``, then each state's value into the command cell of the same
        (device, signal) that some command table has, so commands start at the measured
        values."""
        self.overwrite_states(keys, values)
        for key, value in zip(keys, values, strict=True):
            if key in self.commands:
                self.set_command(key, value)

    def _tell(self, table: Table, key: Key, value: float) -> None:
        for listener in self._listeners:
            listener(table, key, value)
