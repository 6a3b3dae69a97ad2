"""Replay protection: per sender, the boot epoch and a sliding window of sequence numbers.

A datagram is fresh when its epoch is the sender's current one (or newer: the sender
restarted) and its sequence number is above the window or inside it and not yet seen.
Numbers older than the window, and older epochs, are replays. Reordering within the window
is fine; duplicates are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

WINDOW = 64


@dataclass
class _SenderWindow:
    epoch: int
    highest: int = 0
    seen: int = 0  # bit i set = highest - i was seen


@dataclass
class ReplayGuard:
    """Remembers what each sender has sent; :meth:`check_and_record` is the one entry point."""

    window: int = WINDOW
    senders: dict[str, _SenderWindow] = field(default_factory=dict)

    def check_and_record(self, sender: str, epoch: int, seq: int) -> bool:
        """True (and remembered) when fresh; False for a replay."""
        state = self.senders.get(sender)
        if state is None or epoch > state.epoch:
            state = self.senders[sender] = _SenderWindow(epoch)
        elif epoch < state.epoch:
            return False
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
