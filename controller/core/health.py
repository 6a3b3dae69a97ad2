"""Whether a node may trust its devices, round by round (pure: ``now`` is passed in).

A round is *fresh* when every device the load balancer needs answered it. One bad round
starts an episode; the episode ends only after the devices have answered every round for
``recovery_s``. A device that flaps — one good answer in five — therefore never ends it, and
after ``hold_s`` in the episode the node releases its actuators to their failsafe values.
While an episode lasts the node does not draft; after a release it resumes control only once
the episode is over.
"""

from __future__ import annotations

from dataclasses import dataclass

HEALTHY, FAILING, RECOVERING, RELEASED = "healthy", "failing", "recovering", "released"


@dataclass
class DeviceHealth:
    hold_s: float
    recovery_s: float
    unhealthy_since: float | None = None  # the first bad round of this episode
    fresh_since: float | None = None  # the first of the good rounds that may end it
    released: bool = False
    episodes: int = 0
    releases: int = 0

    @property
    def trusted(self) -> bool:
        return self.unhealthy_since is None

    @property
    def state(self) -> str:
        if self.released:
            return RELEASED
        if self.unhealthy_since is None:
            return HEALTHY
        return RECOVERING if self.fresh_since is not None else FAILING

    def observe(self, fresh: bool, now: float) -> str | None:
        """One round's verdict; returns ``"failing"``, ``"release"``, ``"recovered"`` or
        ``"resume"`` when the node must act on it, else None."""
        if not fresh:
            self.fresh_since = None
            if self.unhealthy_since is None:
                self.unhealthy_since = now
                self.episodes += 1
                event: str | None = "failing"
            else:
                event = None
            if not self.released and now - self.unhealthy_since >= self.hold_s:
                self.released = True
                self.releases += 1
                return "release"
            return event
        if self.unhealthy_since is None:
            return None
        if self.fresh_since is None:
            self.fresh_since = now
        if now - self.fresh_since < self.recovery_s:
            return None
        was_released = self.released
        self.unhealthy_since = self.fresh_since = None
        self.released = False
        return "resume" if was_released else "recovered"
