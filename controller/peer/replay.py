"""Replay protection: per sender and boot epoch, a sliding window of sequence numbers.

A datagram is fresh when its sequence number is above its epoch's window, or inside it and
not yet seen; numbers older than the window, and numbers seen, are replays. Reordering
within the window is fine; duplicates are not.

A sender may show more than one epoch: it restarted (its epoch is its boot time), or a
second process runs under its id. Each epoch keeps its own window — a few per sender, the
least recently heard one forgotten first — so no datagram, forged or misconfigured, can make
a receiver refuse the real node's current epoch: replay protection cannot be turned into a
lockout. (Epochs from the future are refused before they get here, by the wire.) Two epochs
heard *at the same time* — the older one still heard after the newer one started, by more
than ``grace_s`` (a datagram in flight), not one after the other as after a restart — mean
two processes share the id: :meth:`ReplayGuard.twins` reports them, until one of the two has
been silent for ``quiet_s``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

WINDOW = 64
EPOCHS = 4  # windows kept per sender


@dataclass
class _EpochWindow:
    epoch: int
    first_seen: float
    last_seen: float
    highest: int = 0
    seen: int = 0  # bit i set = highest - i was seen


@dataclass
class ReplayGuard:
    """Remembers what each sender has sent; :meth:`check_and_record` is the one entry point."""

    window: int = WINDOW
    epochs: int = EPOCHS
    senders: dict[str, dict[int, _EpochWindow]] = field(default_factory=dict)

    def check_and_record(self, sender: str, epoch: int, seq: int, now: float = 0.0) -> bool:
        """True (and remembered) when fresh; False for a replay."""
        windows = self.senders.setdefault(sender, {})
        state = windows.get(epoch)
        if state is None:
            if len(windows) >= self.epochs:
                del windows[min(windows.values(), key=lambda w: w.last_seen).epoch]
            state = windows[epoch] = _EpochWindow(epoch, now, now)
        if not self._fresh(state, seq):
            return False
        state.last_seen = max(state.last_seen, now)
        return True

    def _fresh(self, state: _EpochWindow, seq: int) -> bool:
        if seq > state.highest:
            shift = seq - state.highest
            state.seen = (
                ((state.seen << shift) | 1) & ((1 << self.window) - 1) if shift < self.window else 1
            )
            state.highest = seq
            return True
        offset = state.highest - seq
        if offset >= self.window or state.seen >> offset & 1:
            return False
        state.seen |= 1 << offset
        return True

    def twins(
        self, sender: str, now: float, *, grace_s: float, quiet_s: float
    ) -> tuple[int, int] | None:
        """Two epochs of ``sender``, both heard within the last ``quiet_s``, whose activity
        overlapped by more than ``grace_s``: another process uses its id."""
        live = [w for w in self.senders.get(sender, {}).values() if now - w.last_seen <= quiet_s]
        for a, b in combinations(sorted(live, key=lambda w: w.epoch), 2):
            if min(a.last_seen, b.last_seen) - max(a.first_seen, b.first_seen) > grace_s:
                return a.epoch, b.epoch
        return None
