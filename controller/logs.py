"""Logging set-up for the command-line tools: text for people, JSON lines for log shippers."""

from __future__ import annotations

import json
import logging
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (Unix s), level, logger, message; a node's events add
    ``kind`` and their figures (``data``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("kind", "data"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_logging(verbose: int = 0, *, quiet: bool = False, fmt: str = "text") -> None:
    """INFO for our modules (DEBUG with -v, WARNING when ``quiet``, e.g. under a live view).

    pymodbus logs only with -vv: the drivers log failures on their edges already.
    """
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("pymodbus").setLevel(logging.DEBUG if verbose > 1 else logging.CRITICAL)
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


def current_format() -> str:
    """``json`` when the root logger writes JSON lines, else ``text`` (a child process the
    node starts logs the same way)."""
    handlers = logging.getLogger().handlers
    return "json" if any(isinstance(h.formatter, JsonFormatter) for h in handlers) else "text"
