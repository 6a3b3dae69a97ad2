"""Group management's messages (FREEDM's names) and their value rules.

Fields are plain ints and strings; a peer list travels as its members' ids joined by commas
and is checked against the site's nodes by the receiver (:mod:`controller.gm.core`). The
answers a node gives a coordinator (``AreYouCoordinatorResponse``, ``AreYouThere``, ``Accept``)
carry the states of its own Fid switches as ``fids``: ``"fid1=1,fid2=0"`` (1 closed, 0 open;
a Fid left out is unknown), for the physical topology (:mod:`controller.gm.topology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from config.topology import MAX_FIDS_TEXT
from controller.core.messages import InvalidMessage, Limits, Message

MAX_MEMBERS_TEXT = 4096
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class GmMessage(Message):
    namespace: ClassVar[str] = "gm"


def _flag(value: int, name: str) -> None:
    if value not in (0, 1):
        raise InvalidMessage(f"{name} must be 0 or 1, not {value}")


def fids_text(states: Mapping[str, bool]) -> str:
    """``{"f2": False, "f1": True}`` → ``"f1=1,f2=0"``."""
    return ",".join(f"{fid}={int(closed)}" for fid, closed in sorted(states.items()))


def parse_fids(text: str) -> dict[str, bool]:
    """``"f1=1,f2=0"`` → ``{"f1": True, "f2": False}``; raise :class:`InvalidMessage` unless
    it is such a list of distinct device ids, at most ``MAX_FIDS_TEXT`` characters."""
    if len(text) > MAX_FIDS_TEXT:
        raise InvalidMessage(f"fids longer than {MAX_FIDS_TEXT} characters")
    states: dict[str, bool] = {}
    for item in text.split(",") if text else ():
        fid, sep, state = item.partition("=")
        if not sep or state not in ("0", "1") or not fid or not set(fid) <= _NAME_CHARS:
            raise InvalidMessage(f"fids must be DEVICE=0 or DEVICE=1, comma separated: {item!r}")
        if fid in states:
            raise InvalidMessage(f"fids names {fid} twice")
        states[fid] = state == "1"
    return states


@dataclass(frozen=True)
class AreYouCoordinator(GmMessage):
    """Coordinator → every known node, each GM phase: a search and a heartbeat."""

    seq: int


@dataclass(frozen=True)
class AreYouCoordinatorResponse(GmMessage):
    """ "yes" (1) when the sender leads a group and is not electing; its leader and group,
    and its Fids' states."""

    seq: int
    yes: int
    leader: str
    group: str
    fids: str

    def check(self, limits: Limits) -> None:
        _flag(self.yes, "yes")
        parse_fids(self.fids)


@dataclass(frozen=True)
class AreYouThere(GmMessage):
    """Member → its coordinator, each GM phase: "am I still in your group ``group``?", with
    its Fids' states."""

    group: str
    seq: int
    fids: str

    def check(self, limits: Limits) -> None:
        parse_fids(self.fids)


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
    """Invited node → the new leader, with its Fids' states."""

    group: str
    fids: str

    def check(self, limits: Limits) -> None:
        parse_fids(self.fids)


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
