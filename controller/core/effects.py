"""What the pure cores ask the runtime to do. The runtime carries effects out; cores do no I/O."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from controller.core.collected import Collected
from controller.core.group import Group
from controller.core.messages import Message
from controller.peer.posted import Posted

TimerKey = tuple[str | int, ...]
BROADCAST = "*"  # Send to every member of the group (the one definition)


@dataclass(frozen=True)
class Send:
    """Send ``message`` to peer ``to`` (or to every group member with ``to="*"``)."""

    to: str
    message: Message


@dataclass(frozen=True)
class Transmit:
    """Put ``data`` (an authenticated datagram) on the wire to peer ``to``."""

    to: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Post:
    """Hand ``posted`` (a message with its header, unsealed: the plain channel of virtual
    time, :mod:`controller.peer.posted`) to peer ``to``; a core assembled ``plain`` posts
    what another core would transmit."""

    to: str
    posted: Posted


@dataclass(frozen=True)
class SetPStar:
    """Command the node's gateway (PStar) to ``kw``: write ``setpoint`` to the actuator (the
    Sst's gateway, or under storage actuation the Desd's storage) and acknowledge ``seq``
    (the ledger entry) when the device has taken it. Writes are never skipped as repeats."""

    kw: float
    seq: int
    setpoint: float


@dataclass(frozen=True)
class ShowGroup:
    """Write the group bit field to the Logger's ``groupStatus`` (if the node has a Logger):
    bit 0 = this node leads; bit n = the n-th node of the site (ascending id, this one
    included) is in its group. Written each GM phase, as FREEDM did."""

    bits: int


@dataclass(frozen=True)
class Persist:
    """Store ``data`` (JSON-ready) under ``key`` for this node, replacing what was stored,
    before the effects after it are carried out: what a restarted node takes up again."""

    key: str
    data: Mapping[str, object]


@dataclass(frozen=True)
class StartTimer:
    """Call back with ``key`` at time ``at`` (replaces a timer with the same key)."""

    key: TimerKey
    at: float


@dataclass(frozen=True)
class CancelTimer:
    key: TimerKey


@dataclass(frozen=True)
class Note:
    """Something worth logging or counting: ``kind`` names it, ``data`` carries the figures."""

    kind: str
    text: str
    data: Mapping[str, object] = field(default_factory=dict)
    level: str = "info"


@dataclass(frozen=True)
class GroupChanged:
    """Group management to the node core: the node's group is now ``group``. The core tells
    every other module; it never reaches the runtime."""

    group: Group


@dataclass(frozen=True)
class StateCollected:
    """State collection to the node core: the group's state of this cycle, ``collected``.
    The core hands it to every other module; it never reaches the runtime."""

    collected: Collected


@dataclass(frozen=True)
class Answer:
    """The answer to an API request the core was handed (``token``: the runtime's id for
    it): an HTTP status, a JSON body and headers (a charging request answered at once or
    once its target decided)."""

    token: int
    status: int
    body: Mapping[str, object]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeLimit:
    """The power the node's EV chargers may draw together (kW): the sum of its sessions."""

    kw: float


@dataclass(frozen=True)
class StoreSession:
    """Keep a charging session across restarts (``session`` None: it ended), before going on.
    ``data`` is the session as :mod:`controller.ev.rules` writes it."""

    session_id: str
    data: Mapping[str, object] | None


Effect = (
    Send
    | Transmit
    | Post
    | SetPStar
    | ShowGroup
    | Persist
    | StartTimer
    | CancelTimer
    | Note
    | GroupChanged
    | StateCollected
    | Answer
    | ChargeLimit
    | StoreSession
)
