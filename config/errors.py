"""Configuration errors: every problem names its file, line, path, value and rule.

Loaders collect :class:`ConfigIssue` objects instead of stopping at the first one, then raise
one :class:`ConfigError` carrying all of them, so a bad site is refused with every error listed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

_MISSING = object()


def format_path(loc: Sequence[str | int]) -> str:
    """Render a location tuple as ``nodes[1].devices[2].address``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in one configuration file."""

    file: str
    path: str
    rule: str
    value: object = _MISSING
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        subject = self.path or "(file)"
        if self.value is not _MISSING:
            subject = f"{subject} = {_show(self.value)}"
        return f"{where}: {subject}: {self.rule}"


def _show(value: object) -> str:
    if isinstance(value, str):
        return repr(value)
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class ConfigError(Exception):
    """A configuration was refused; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


def display_path(path: Path) -> str:
    """A path as the user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
