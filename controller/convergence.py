"""When did a group converge? Computed from samples of each node's imbalance (pure)."""

from __future__ import annotations

from collections.abc import Sequence


def converged_at(
    samples: Sequence[tuple[float, float]], tolerance: float, since: float
) -> float | None:
    """Seconds from ``since`` until the largest imbalance was, and stayed, within ``tolerance``.

    ``samples`` are (time, largest |G - NG| over the nodes) in time order. ``None`` when the
    last sample is still out of tolerance (or there are none).
    """
    if not samples or samples[-1][1] > tolerance:
        return None
    settled = since
    for (_, worst), nxt in zip(samples, [*samples[1:], None], strict=True):
        if worst > tolerance and nxt is not None:
            settled = max(settled, nxt[0])
    return max(0.0, settled - since)
