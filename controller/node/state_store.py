"""Where a node keeps what must survive its process: one JSON file per key in its state
directory (``[site] state_dir``), ``<node>.<key>.json``, replaced atomically.

A write goes to a temporary file first, is flushed and renamed over the old one, so a process
killed at any moment leaves the old or the new file, never half of one. (It survives the
process, not a power cut of the host: the file is not fsynced, which would cost milliseconds
each migration.) A file that cannot be read is set aside as ``.bad`` with a warning, and the
node starts as without it; a write that fails is logged and counted, and the node goes on.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from config.errors import display_path

log = logging.getLogger(__name__)


class StateStore:
    def __init__(self, directory: Path, node_id: str) -> None:
        self.directory = directory
        self.node_id = node_id
        self.errors = 0
        self._failing = False

    def path(self, key: str) -> Path:
        return self.directory / f"{self.node_id}.{key}.json"

    def load(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            self.set_aside(key, f"cannot be read ({error})")
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
        path = self.path(key)
        temporary = path.with_name(f".{path.name}.tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(data, file, separators=(",", ":"))
                file.flush()
            os.replace(temporary, path)
        except OSError as error:
            self.errors += 1
            if not self._failing:
                log.error("cannot write %s: %s (a restart of this node may lose what it "
                          "decided)", display_path(path), error)  # fmt: skip
            self._failing = True
            return
        if self._failing:
            log.info("%s written again", display_path(path))
        self._failing = False
