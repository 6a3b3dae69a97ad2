"""Reading a simulation-server configuration file (the I/O around :mod:`hil.config`)."""

from __future__ import annotations

from pathlib import Path

from config.errors import ConfigError, ConfigIssue, display_path
from config.tomlfile import read_toml
from hil.config import SimServerConfig, check_document
from hil.xmlconfig import xml_document


def load_simserver_config(path: Path | str) -> SimServerConfig:
    """Read and check a file (TOML, or the original's XML when it ends in ``.xml``); raise
    :class:`ConfigError` listing every problem."""
    file = Path(path)
    if file.suffix.lower() == ".xml":
        return _load_xml(file)
    raw, text, issues = read_toml(file)
    if raw is None:
        raise ConfigError(issues)
    return check_document(raw, text, display_path(file))


def _load_xml(file: Path) -> SimServerConfig:
    shown = display_path(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigIssue(shown, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(shown, "", f"cannot be read: {exc}")]) from None
    raw, where, issues = xml_document(text, shown)
    if raw is None:
        raise ConfigError(issues)
    try:
        config = check_document(raw, text, shown, where=where, xml=True)
    except ConfigError as exc:
        raise ConfigError([*issues, *exc.issues]) from None
    if issues:
        raise ConfigError(issues)
    return config
