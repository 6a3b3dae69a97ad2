"""Reading a simulation-server configuration file (the I/O around :mod:`hil.config`)."""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError, display_path
from config.tomlfile import read_toml
from hil.config import SimServerConfig, check_document


def load_simserver_config(path: Path | str) -> SimServerConfig:
    """Read and check a file; raise :class:`ConfigError` listing every problem."""
    file = Path(path)
    raw, text, issues = read_toml(file)
    if raw is None:
        raise ConfigError(issues)
    return check_document(raw, text, display_path(file))
