"""Group management's timeouts (FREEDM's GM keys) and its priority rule (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from config.timings import Timings


@dataclass(frozen=True)
class GmSettings:
    """FREEDM's GM timeouts, in seconds."""

    ayc_s: float = 0.14
    ayt_s: float = 0.14
    premerge_min_s: float = 0.09
    premerge_max_s: float = 0.18
    premerge_steps: int = 90
    invite_s: float = 0.21
    resend_s: float = 0.06

    @classmethod
    def from_timings(cls, t: Timings) -> GmSettings:
        return cls(
            t.GM_AYC_RESPONSE_TIMEOUT / 1000,
            t.GM_AYT_RESPONSE_TIMEOUT / 1000,
            t.GM_PREMERGE_MIN_TIMEOUT / 1000,
            t.GM_PREMERGE_MAX_TIMEOUT / 1000,
            max(1, t.GM_PREMERGE_GRANULARITY),
            t.GM_INVITE_RESPONSE_TIMEOUT / 1000,
            max(t.CSRC_RESEND_TIME, 1) / 1000,
        )

    def premerge_wait(self, higher: int) -> float:
        """The wait before merging with ``higher`` coordinators of higher priority in sight."""
        if higher <= 0:
            return 0.0
        step = (self.premerge_max_s - self.premerge_min_s) / self.premerge_steps
        return min(self.premerge_max_s, self.premerge_min_s + (higher - 1) * step)


def priority_order(node_ids: Iterable[str]) -> list[str]:
    """Highest priority first: the lowest node id."""
    return sorted(node_ids)
