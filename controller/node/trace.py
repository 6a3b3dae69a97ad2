"""``dgi run --trace FILE``: every note of a node as a JSON line, with wall-clock time.

For lab runs and benchmarks: state changes, draft requests, selections, acceptances,
migrations, round durations, and acknowledged setpoint writes, each
``{"t": 1795280000.123456, "node": "sst1", "kind": "select", "text": ..., "data": {...}}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

from controller.core.effects import Note


class TraceFile:
    """A note listener that appends JSON lines to a file; close it to flush."""

    def __init__(self, path: Path) -> None:
        self._file: IO[str] | None = path.open("a", encoding="utf-8", buffering=1 << 16)

    def __call__(self, node: str, at: float, note: Note) -> None:
        if self._file is None or note.kind == "load_table":
            return
        line = {
            "t": at,
            "node": node,
            "kind": note.kind,
            "text": note.text,
            "data": dict(note.data),
        }
        self._file.write(json.dumps(line, default=str) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
