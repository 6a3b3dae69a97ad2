"""What a module of a node is to the node core (:mod:`controller.core.node_core`).

A module (``gm``, ``sc``, ``lb``) owns the messages of its namespace and does its work in one
phase: the core hands it its messages and timers only while that phase runs (those that arrive
in another phase wait for it, in order, as FREEDM's broker kept them), tells it when its phase
starts and when the group changes. Timer keys are the module's own: the core prefixes them with
the module's name on the way out and strips the prefix on the way back.
"""

from __future__ import annotations

from typing import Protocol

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
        """The phase its work runs in."""
        ...

    def start_phase(self, now: float) -> list[Effect]: ...

    def message(self, sender: str, message: Message, now: float) -> list[Effect]: ...

    def timer(self, key: TimerKey, now: float) -> list[Effect]: ...

    def group_changed(self, group: Group, now: float) -> list[Effect]: ...
