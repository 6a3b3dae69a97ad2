"""What a module of a node is to the node core (:mod:`controller.core.node_core`).

A module (``gm``, ``sc``, ``lb``) owns the messages of its namespace and does its work in one
phase: the core hands it its messages and timers only while that phase runs, or one of the
phases it names in ``also`` (those that arrive in another phase wait for it, in order, as
FREEDM's broker kept them), tells it when its phase starts, when the group changes and when
the group's state is collected. Timer keys are the module's own: the core prefixes them with
the module's name on the way out and strips the prefix on the way back.
"""

from __future__ import annotations

from typing import Protocol

from controller.core.collected import Collected
from controller.core.effects import Effect, TimerKey
from controller.core.group import Group
from controller.core.messages import Message


class Module(Protocol):
    @property
    def name(self) -> str:
        """Its message namespace and timer prefix."""
        ...

    @property
    def phase(self) -> str:
        """The phase its work runs in (and whose start it is told of)."""
        ...

    @property
    def also(self) -> tuple[str, ...]:
        """Other phases in which its messages and timers are taken at once, not kept."""
        ...

    def start_phase(self, now: float) -> list[Effect]: ...

    def keeps(self, message: Message, waited_s: float) -> bool:
        """Whether a message kept ``waited_s`` for this module's phase still matters (one
        that does not is dropped at the phase start: an invitation whose window is over)."""
        ...

    def message(self, sender: str, message: Message, now: float) -> list[Effect]: ...

    def timer(self, key: TimerKey, now: float) -> list[Effect]: ...

    def group_changed(self, group: Group, now: float) -> list[Effect]: ...

    def state_collected(self, collected: Collected, now: float) -> list[Effect]:
        """The group's state of this cycle, from state collection."""
        ...
