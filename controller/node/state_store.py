"""Where a node keeps what must survive its process: one file per key in its state directory
(``[site] state_dir``), ``<node>.<key>.jsonl``, one JSON line per state, the last one counts.

Each save appends one line with a single ``write`` to a file kept open for appending — a few
tens of microseconds, on the path of every migration — so a process killed at any moment
leaves every earlier line whole and at most a torn last one, which is ignored (the save it
belonged to had not returned, so nothing that depended on it happened). When the file passes
``COMPACT_BYTES`` it is rewritten with its last state alone, through a temporary file renamed
over it. (It survives the process, not a power cut of the host: nothing is fsynced, which
would cost milliseconds each migration.) A file that cannot be read is set aside as ``.bad``
with a warning, and the node starts as without it; a write that fails is logged and counted,
and the node goes on.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

from config.errors import display_path

log = logging.getLogger(__name__)

COMPACT_BYTES = 1 << 20


class StateStore:
    def __init__(self, directory: Path, node_id: str) -> None:
        self.directory = directory
        self.node_id = node_id
        self.errors = 0
        self._failing = False
        self._files: dict[str, tuple[int, int]] = {}  # key -> (open fd, bytes in the file)

    def path(self, key: str) -> Path:
        return self.directory / f"{self.node_id}.{key}.jsonl"

    def load(self, key: str) -> dict[str, Any] | None:
        """The last whole state saved under ``key``, or None."""
        path = self.path(key)
        try:
            lines = path.read_bytes().split(b"\n")
        except FileNotFoundError:
            return None
        except OSError as error:
            self.set_aside(key, f"cannot be read ({error})")
            return None
        for line in reversed(lines):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError:
                continue  # a torn last line: its save never returned
            if isinstance(data, dict):
                return data
            break
        self.set_aside(key, "holds no state")
        return None

    def set_aside(self, key: str, why: str) -> None:
        path = self.path(key)
        bad = path.with_suffix(".bad")
        log.warning("%s %s: set aside as %s; starting without it", display_path(path), why,
                    bad.name)  # fmt: skip
        try:
            path.replace(bad)
        except OSError as error:
            log.warning("cannot set %s aside: %s", display_path(path), error)

    def save(self, key: str, data: object) -> None:
        line = json.dumps(data, separators=(",", ":")).encode() + b"\n"
        try:
            fd, size = self._open(key)
            if size + len(line) > COMPACT_BYTES:
                fd, size = self._compact(key, line)
            else:
                os.write(fd, line)  # O_APPEND: one write, at the end
                size += len(line)
            self._files[key] = (fd, size)
        except OSError as error:
            self.errors += 1
            self._forget(key)
            if not self._failing:
                log.error("cannot write %s: %s (a restart of this node may lose what it "
                          "decided)", display_path(self.path(key)), error)  # fmt: skip
            self._failing = True
            return
        if self._failing:
            log.info("%s written again", display_path(self.path(key)))
        self._failing = False

    def close(self) -> None:
        for key in list(self._files):
            self._forget(key)

    def _open(self, key: str) -> tuple[int, int]:
        if key in self._files:
            return self._files[key]
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(key), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return fd, os.fstat(fd).st_size

    def _compact(self, key: str, line: bytes) -> tuple[int, int]:
        """The file rewritten with ``line`` alone (temporary file, renamed over it)."""
        path = self.path(key)
        temporary = path.with_name(f".{path.name}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        try:
            os.write(fd, line)
            os.replace(temporary, path)
        except OSError:
            os.close(fd)
            raise
        self._forget(key)
        return fd, len(line)

    def _forget(self, key: str) -> None:
        opened = self._files.pop(key, None)
        if opened is not None:
            with contextlib.suppress(OSError):
                os.close(opened[0])
