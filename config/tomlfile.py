"""Reading TOML files and finding the line a configuration path came from.

``tomllib`` reports syntax errors with a line number but forgets where values were. Error
messages are much more useful with a line, so :func:`locate` finds it again from the text:
array-of-tables headers (``[[nodes]]``, ``[[nodes.devices]]``), tables (``[nodes.devices.sim]``)
and ``key =`` lines, counted in document order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from config.errors import ConfigIssue, display_path

_LINE_IN_MESSAGE = re.compile(r"\(at line (\d+), column \d+\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\- \"]+?)\s*\]\]?\s*(#.*)?$")


def read_toml(path: Path) -> tuple[dict[str, Any] | None, str, list[ConfigIssue]]:
    """Parse ``path``; return (document or None, text, issues)."""
    shown = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "", [ConfigIssue(shown, "", "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, "", [ConfigIssue(shown, "", f"cannot be read: {exc}")]
    try:
        return tomllib.loads(text), text, []
    except tomllib.TOMLDecodeError as exc:
        found = _LINE_IN_MESSAGE.search(str(exc))
        line = int(found.group(1)) if found else None
        return None, text, [ConfigIssue(shown, "", f"malformed TOML: {exc}", line=line)]


def locate(text: str, loc: Sequence[str | int]) -> int | None:
    """Best-effort 1-based line of ``loc`` (e.g. ``("nodes", 1, "devices", 0, "port")``)."""
    lines = text.splitlines()
    start, end = 0, len(lines)
    prefix: list[str] = []
    found: int | None = None
    i = 0
    while i < len(loc):
        key = loc[i]
        if not isinstance(key, str):
            return found
        index = loc[i + 1] if i + 1 < len(loc) and isinstance(loc[i + 1], int) else None
        dotted = ".".join([*prefix, key])
        if index is not None:
            span = _nth_array_table(lines, start, end, dotted, int(index))
            if span is None:
                return found
            start, end = span
            found = start + 1
            prefix.append(key)
            i += 2
            continue
        table = _table(lines, start, end, dotted)
        if table is not None:
            start, end = table
            found = start + 1
            prefix.append(key)
            i += 1
            continue
        if any(name.startswith(dotted + ".") for _, _, name in _headers(lines, start, end)):
            prefix.append(key)  # only implied by deeper tables ([plant.devices.x] for devices)
            i += 1
            continue
        return _key_line(lines, start, end, key) or found
    return found


def _headers(lines: list[str], start: int, end: int) -> list[tuple[int, bool, str]]:
    out = []
    for n in range(start, end):
        match = _HEADER.match(lines[n])
        if match:
            name = ".".join(part.strip().strip('"') for part in match.group(2).split("."))
            out.append((n, match.group(1) == "[[", name))
    return out


def _section_end(lines: list[str], begin: int, end: int, dotted: str) -> int:
    for n, _, name in _headers(lines, begin + 1, end):
        if not name.startswith(dotted + "."):
            return n
    return end


def _nth_array_table(
    lines: list[str], start: int, end: int, dotted: str, index: int
) -> tuple[int, int] | None:
    seen = -1
    for n, is_array, name in _headers(lines, start, end):
        if is_array and name == dotted:
            seen += 1
            if seen == index:
                return n, _section_end(lines, n, end, dotted)
    return None


def _table(lines: list[str], start: int, end: int, dotted: str) -> tuple[int, int] | None:
    for n, is_array, name in _headers(lines, start, end):
        if not is_array and name == dotted:
            return n, _section_end(lines, n, end, dotted)
    return None


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    pattern = re.compile(rf"^\s*\"?{re.escape(key)}\"?\s*=")
    for n in range(start, end):
        if n > start and _HEADER.match(lines[n]):
            break
        if pattern.match(lines[n]):
            return n + 1
    return None
