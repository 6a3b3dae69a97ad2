"""FREEDM's load table (ALGORITHM.md §8), as text."""

from __future__ import annotations

from collections.abc import Mapping

from controller.readings import Readings

RULE = "-" * 45


def load_table(
    readings: Readings,
    *,
    node_id: str,
    state: str,
    k: float,
    peers: Mapping[str, str | None],
) -> str:
    """The table as FREEDM prints it; a peer of unknown state shows ``( ???? )``."""
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
        peer_state = peers[peer]
        lines.append(f"({peer_state.upper()}) {peer}" if peer_state else f"( ???? ) {peer}")
    lines.append(RULE)
    return "\n".join(lines)
