"""A node's charging sessions across restarts: SQLite in its state directory (the only module
that uses ``sqlite3``).

``<state_dir>/<node>.sessions.sqlite``, one row per booked session, in WAL mode with
``synchronous = NORMAL``: a commit appends to the write-ahead log without waiting for the
disk (about 20 µs here), a killed process loses no committed row, and a power cut at most the
last few. A session is written before its booking is acknowledged to anyone
(:class:`controller.core.effects.StoreSession`) and deleted when it ends. A database that
cannot be opened or read is set aside as ``.bad`` with a warning and the node starts without
its sessions; a write that fails is logged and counted, and the node goes on.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from config.errors import display_path

log = logging.getLogger(__name__)

SCHEMA = "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, data TEXT NOT NULL)"


class SessionStore:
    def __init__(self, directory: Path, node_id: str) -> None:
        self.path = directory / f"{node_id}.sessions.sqlite"
        self.errors = 0
        self._db: sqlite3.Connection | None = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(SCHEMA)
            self._db = db
        return self._db

    def load(self) -> dict[str, dict[str, object]]:
        """Every stored session by id (none when the database cannot be read: set aside)."""
        try:
            rows = self._open().execute("SELECT id, data FROM sessions").fetchall()
        except sqlite3.Error as error:
            self._set_aside(f"cannot be read ({error})")
            return {}
        out: dict[str, dict[str, object]] = {}
        for session_id, text in rows:
            try:
                data = json.loads(text)
            except ValueError:
                data = {}
            out[str(session_id)] = data if isinstance(data, dict) else {}
        return out

    def save(self, session_id: str, data: Mapping[str, object] | None) -> None:
        """Store a session (None: delete it)."""
        try:
            db = self._open()
            if data is None:
                db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            else:
                text = json.dumps(dict(data), separators=(",", ":"))
                db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (session_id, text))
        except sqlite3.Error as error:
            self.errors += 1
            log.warning("session %s not stored in %s: %s", session_id, display_path(self.path),
                        error)  # fmt: skip

    def _set_aside(self, why: str) -> None:
        self.close()
        bad = self.path.with_name(self.path.name + ".bad")
        log.warning("session store %s %s: set aside as %s; starting without its sessions",
                    display_path(self.path), why, bad.name)  # fmt: skip
        for suffix in ("", "-wal", "-shm"):
            source = Path(str(self.path) + suffix)
            if source.exists():
                source.replace(Path(str(bad) + suffix))

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
