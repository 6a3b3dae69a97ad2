"""Phase timings in milliseconds, with FREEDM's key names so a FREEDM ``timings.cfg`` works as is.

Values come from a named profile, then a FREEDM ``timings.cfg`` (``KEY=value`` lines) if the
site names one, then keys written in the site's ``[timings]`` table; later sources win.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator

from config.errors import ConfigIssue, display_path
from config.schema import Model, in_range

_MS = Annotated[int, AfterValidator(in_range(0, 3_600_000))]


@dataclass(frozen=True)
class Timings:
    """All FREEDM timing keys (ms)."""

    GM_PHASE_TIME: int
    SC_PHASE_TIME: int
    LB_PHASE_TIME: int
    LB_ROUND_TIME: int
    LB_REQUEST_TIMEOUT: int
    GM_AYC_RESPONSE_TIMEOUT: int
    GM_AYT_RESPONSE_TIMEOUT: int
    GM_PREMERGE_MIN_TIMEOUT: int
    GM_PREMERGE_MAX_TIMEOUT: int
    GM_PREMERGE_GRANULARITY: int
    GM_INVITE_RESPONSE_TIMEOUT: int
    CSRC_RESEND_TIME: int
    CSRC_DEFAULT_TIMEOUT: int
    DEV_RTDS_DELAY: int = 50
    DEV_SOCKET_TIMEOUT: int = 1000
    DEV_PNP_HEARTBEAT: int = 5000


TIMING_KEYS = tuple(f.name for f in fields(Timings))
#: FREEDM keys that belong to modules this project does not have; accepted and ignored.
IGNORED_KEYS = re.compile(r"^VVC_[A-Z_]+$")


def _profile(
    gm: int,
    sc: int,
    lb: int,
    rnd: int,
    req: int,
    pre: tuple[int, int, int],
    ayc: int,
    invite: int,
    resend: int,
) -> Timings:
    return Timings(
        GM_PHASE_TIME=gm, SC_PHASE_TIME=sc, LB_PHASE_TIME=lb, LB_ROUND_TIME=rnd,
        LB_REQUEST_TIMEOUT=req, GM_AYC_RESPONSE_TIMEOUT=ayc, GM_AYT_RESPONSE_TIMEOUT=ayc,
        GM_PREMERGE_MIN_TIMEOUT=pre[0], GM_PREMERGE_MAX_TIMEOUT=pre[1],
        GM_PREMERGE_GRANULARITY=pre[2], GM_INVITE_RESPONSE_TIMEOUT=invite,
        CSRC_RESEND_TIME=resend, CSRC_DEFAULT_TIMEOUT=lb,
    )  # fmt: skip


#: FREEDM 2.0.1's published profiles (docs/algorithm.md, "Timings").
PROFILES: dict[str, Timings] = {
    "fast-5": _profile(160, 80, 1000, 100, 40, (30, 60, 30), 40, 60, 20),
    "fast-10": _profile(250, 140, 1600, 160, 60, (50, 100, 50), 60, 90, 20),
    "fast-30": _profile(610, 360, 3800, 380, 130, (120, 240, 120), 130, 240, 20),
    "slow-5": _profile(530, 320, 4100, 410, 140, (90, 180, 90), 140, 210, 60),
    "slow-10": _profile(910, 540, 6300, 630, 210, (170, 340, 170), 210, 360, 60),
    "slow-30": _profile(2410, 1440, 15300, 1530, 510, (470, 940, 470), 510, 960, 60),
    "freedm-head": _profile(530, 320, 4100, 3000, 140, (90, 180, 90), 140, 210, 60),
}
ProfileName = Literal["fast-5", "fast-10", "fast-30", "slow-5", "slow-10", "slow-30", "freedm-head"]
DEFAULT_PROFILE: ProfileName = "fast-5"


class TimingsSettings(Model):
    """The site's ``[timings]`` table: a profile, a FREEDM file, and/or individual keys."""

    profile: ProfileName = DEFAULT_PROFILE
    file: str | None = None
    GM_PHASE_TIME: _MS | None = None
    SC_PHASE_TIME: _MS | None = None
    LB_PHASE_TIME: _MS | None = None
    LB_ROUND_TIME: _MS | None = None
    LB_REQUEST_TIMEOUT: _MS | None = None
    GM_AYC_RESPONSE_TIMEOUT: _MS | None = None
    GM_AYT_RESPONSE_TIMEOUT: _MS | None = None
    GM_PREMERGE_MIN_TIMEOUT: _MS | None = None
    GM_PREMERGE_MAX_TIMEOUT: _MS | None = None
    GM_PREMERGE_GRANULARITY: _MS | None = None
    GM_INVITE_RESPONSE_TIMEOUT: _MS | None = None
    CSRC_RESEND_TIME: _MS | None = None
    CSRC_DEFAULT_TIMEOUT: _MS | None = None
    DEV_RTDS_DELAY: _MS | None = None
    DEV_SOCKET_TIMEOUT: _MS | None = None
    DEV_PNP_HEARTBEAT: _MS | None = None


def read_freedm_timings(path: Path) -> tuple[dict[str, int], list[ConfigIssue]]:
    """Parse a FREEDM ``timings.cfg`` (``KEY=value`` per line, ``#`` comments)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return {}, [ConfigIssue(shown, "", f"timings file cannot be read: {exc.strerror or exc}")]
    values: dict[str, int] = {}
    issues = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep:
            issues.append(ConfigIssue(shown, "", "expected KEY=value", raw.strip(), line=number))
        elif IGNORED_KEYS.match(key):
            continue
        elif key not in TIMING_KEYS:
            issues.append(ConfigIssue(shown, key, "unknown timing key", value, line=number))
        elif not value.isdigit():
            issues.append(
                ConfigIssue(
                    shown, key, "must be a whole number of milliseconds", value, line=number
                )
            )
        else:
            values[key] = int(value)
    return values, issues


#: Keys that may be 0: the premerge wait of the highest-priority coordinator, and no pause
#: between RTDS cycles. Every other time must be positive (a 0 ms phase divides by zero, a
#: 0 ms time-to-live expires every datagram).
MAY_BE_ZERO = frozenset({"GM_PREMERGE_MIN_TIMEOUT", "GM_PREMERGE_MAX_TIMEOUT", "DEV_RTDS_DELAY"})


def timing_problems(timings: Timings) -> list[tuple[str, str]]:
    """(key, rule) for every resolved timing that would break the phase cycle at run time."""
    problems = [
        (key, "must be > 0 ms")
        for key in TIMING_KEYS
        if key not in MAY_BE_ZERO and getattr(timings, key) <= 0
    ]
    bad = {key for key, _ in problems}
    pairs = (
        ("LB_ROUND_TIME", "LB_PHASE_TIME", "an LB round must fit in the LB phase"),
        ("LB_REQUEST_TIMEOUT", "LB_ROUND_TIME", "the request window must close within a round"),
        ("GM_PREMERGE_MIN_TIMEOUT", "GM_PREMERGE_MAX_TIMEOUT", "the premerge wait is MIN..MAX"),
        ("CSRC_RESEND_TIME", "CSRC_DEFAULT_TIMEOUT", "a resend must come before the TTL ends"),
    )
    for small, large, why in pairs:
        if small in bad or large in bad:
            continue
        if getattr(timings, small) > getattr(timings, large):
            problems.append((small, f"must be <= {large} ({getattr(timings, large)} ms): {why}"))
    return problems


def resolve_timings(settings: TimingsSettings, from_file: dict[str, int]) -> Timings:
    """Profile, then file, then explicit keys."""
    values = {name: getattr(PROFILES[settings.profile], name) for name in TIMING_KEYS}
    values.update(from_file)
    values.update(
        {
            name: getattr(settings, name)
            for name in TIMING_KEYS
            if getattr(settings, name) is not None
        }
    )
    return Timings(**values)
