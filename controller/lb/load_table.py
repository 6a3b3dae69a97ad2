"""FREEDM's load table (docs/algorithm.md), as text.

Each peer's line shows what it recorded of itself for the last state collection and how long
ago; a peer not collected within the stale time is ``(STALE)``, one never collected
``( ???? )``, as FREEDM showed a peer in none of its sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.core.collected import MemberState
from controller.core.readings import Readings


@dataclass(frozen=True)
class PeerView:
    """What a peer recorded of itself for the last state collection, and how long ago.

    ``state`` is None before a collected state names it; ``stale`` once none did for the
    stale time — a stale peer is shown as such, never with its last state as if current.
    """

    state: str | None
    age_s: float | None
    stale: bool
    status: MemberState | None


def shown_state(view: PeerView) -> str:
    """``supply`` / ``demand`` / ``normal``, ``stale``, or ``unknown``."""
    if view.state is None:
        return "unknown"
    return "stale" if view.stale else view.state


RULE = "-" * 45


def load_table(
    readings: Readings,
    *,
    node_id: str,
    state: str,
    k: float,
    peers: Mapping[str, PeerView],
) -> str:
    """The table as FREEDM prints it, each peer's state with its age."""
    lines = [
        "------- LOAD TABLE (Power Management) -------",
        f"Net DRER ({readings.count('Drer'):02d}): {readings.generation:6.2f}",
        f"Net DESD ({readings.count('Desd'):02d}): {readings.storage:6.2f}",
        f"Net Load ({readings.count('Load'):02d}): {readings.drain:6.2f}",
        RULE,
        f"SST Gateway:    {readings.gateway:6.2f}",
        f"Net Generation: {readings.net_generation:6.2f}",
        f"Predicted K:    {k:6.2f}",
        RULE,
        f"({state.upper()}) {node_id} (this node)",
    ]
    for peer in sorted(peers):
        view = peers[peer]
        shown = shown_state(view)
        if shown == "unknown":
            lines.append(f"( ???? ) {peer}")
        else:
            lines.append(f"({shown.upper()}) {peer} ({view.age_s:.1f} s ago)")
    lines.append(RULE)
    return "\n".join(lines)
