"""FREEDM's load table (docs/algorithm.md), as text.

Each peer's line shows what it last said of itself and how long ago; a peer not heard from
within the stale time is ``(STALE)``, one never heard from ``( ???? )``, as FREEDM showed a
peer in none of its sets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from controller.readings import Readings


class Heard(Protocol):
    @property
    def state(self) -> str | None: ...
    @property
    def age_s(self) -> float | None: ...
    @property
    def stale(self) -> bool: ...


def shown_state(view: Heard) -> str:
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
    peers: Mapping[str, Heard],
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
