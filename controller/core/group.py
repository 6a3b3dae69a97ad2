"""A node's group: who it balances with. Group management decides it; the other modules
receive it as an input (:meth:`controller.core.module.Module.group_changed`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Group:
    """The group id, its leader and its members (the leader included), sorted."""

    id: str
    leader: str
    members: tuple[str, ...]

    @classmethod
    def of(cls, group_id: str, leader: str, members: Iterable[str]) -> Group:
        return cls(group_id, leader, tuple(sorted({leader, *members})))

    @classmethod
    def static(cls, node_ids: Iterable[str], group_id: str = "static") -> Group:
        """Every node of the site in one group led by the lowest id (no group management)."""
        ids = sorted(set(node_ids))
        return cls(group_id, ids[0], tuple(ids))

    def peers_of(self, node_id: str) -> tuple[str, ...]:
        return tuple(m for m in self.members if m != node_id)
