"""Group management's messages (FREEDM's names) and their value rules.

Fields are plain ints and strings; a peer list travels as its members' ids joined by commas
and is checked against the site's nodes by the receiver (:mod:`controller.gm.core`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from controller.core.messages import InvalidMessage, Limits, Message

MAX_MEMBERS_TEXT = 4096


class GmMessage(Message):
    namespace: ClassVar[str] = "gm"


def _flag(value: int, name: str) -> None:
    if value not in (0, 1):
        raise InvalidMessage(f"{name} must be 0 or 1, not {value}")


@dataclass(frozen=True)
class AreYouCoordinator(GmMessage):
    """Coordinator → every known node, each GM phase: a search and a heartbeat."""

    seq: int


@dataclass(frozen=True)
class AreYouCoordinatorResponse(GmMessage):
    """ "yes" (1) when the sender leads a group and is not electing; its leader and group."""

    seq: int
    yes: int
    leader: str
    group: str

    def check(self, limits: Limits) -> None:
        _flag(self.yes, "yes")


@dataclass(frozen=True)
class AreYouThere(GmMessage):
    """Member → its coordinator, each GM phase: "am I still in your group ``group``?"."""

    group: str
    seq: int


@dataclass(frozen=True)
class AreYouThereResponse(GmMessage):
    seq: int
    yes: int

    def check(self, limits: Limits) -> None:
        _flag(self.yes, "yes")


@dataclass(frozen=True)
class Invite(GmMessage):
    """Coordinator → nodes it merges: join group ``group`` led by ``leader``."""

    group: str
    leader: str


@dataclass(frozen=True)
class Accept(GmMessage):
    """Invited node → the new leader."""

    group: str


@dataclass(frozen=True)
class PeerList(GmMessage):
    """Leader → every member: the group (members joined by commas, the leader included)."""

    group: str
    members: str

    def check(self, limits: Limits) -> None:
        if len(self.members) > MAX_MEMBERS_TEXT or not self.members:
            raise InvalidMessage("a peer list names 1 to a few hundred members")


GM_MESSAGES: tuple[type[Message], ...] = (
    AreYouCoordinator,
    AreYouCoordinatorResponse,
    AreYouThere,
    AreYouThereResponse,
    Invite,
    Accept,
    PeerList,
)
