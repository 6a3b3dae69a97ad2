"""FREEDM's ``freedm.cfg`` and ``timings.cfg``: ``key=value`` lines, ``#`` comments (pure).

``freedm.cfg`` is a Boost program-options file (``docs/advanced_config/freedm.rst``): one
option per line, ``add-host`` repeatable, booleans as ``1``/``0``, ``true``/``false``,
``yes``/``no``, ``on``/``off``. ``timings.cfg`` holds the broker's timing keys in ms
(reference §6.2). Options are read here and judged by :mod:`config.freedm.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from config.freedm.sources import FreedmError, Note, Source
from config.timings import IGNORED_KEYS, TIMING_KEYS

#: FREEDM's default UDP port of a DGI (``port``; the sample cfg uses 51870).
DEFAULT_PORT = 1870
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
#: Options FREEDM reads from a file path; the importer follows the first three.
FILE_OPTIONS = ("adapter-config", "device-config", "timings-config")


@dataclass(frozen=True)
class Option:
    key: str
    value: str
    line: int


@dataclass(frozen=True)
class Host:
    """An ``add-host`` entry: FREEDM's uuid is the lower-cased host, ``:`` and the port."""

    host: str
    port: int
    line: int

    @property
    def uuid(self) -> str:
        return f"{self.host.lower()}:{self.port}"


@dataclass
class FreedmCfg:
    """A parsed ``freedm.cfg``: its hosts in file order, every other option by key (the last
    line wins, as in Boost), and the file's name."""

    file: str
    hosts: list[Host] = field(default_factory=list)
    options: dict[str, Option] = field(default_factory=dict)

    def path(self, key: str) -> str | None:
        """A file option's value (``adapter-config``, ...), None when absent."""
        option = self.options.get(key)
        return option.value if option is not None and option.value else None


def _lines(source: Source) -> list[tuple[int, str, str]]:
    """(line, key, value) of every ``key=value`` line; a line without ``=`` is refused."""
    out = []
    for number, raw in enumerate(source.text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line or (line.startswith("[") and line.endswith("]")):
            continue  # blank, comment, or a Boost section header
        key, sep, value = (part.strip() for part in line.partition("="))
        if not sep or not key:
            raise FreedmError(source.name, number, f"expected key=value, found {raw.strip()!r}")
        out.append((number, key, value))
    return out


def parse_cfg(source: Source) -> FreedmCfg:
    """Read ``freedm.cfg``; raise :class:`FreedmError` for a line FREEDM would refuse."""
    cfg = FreedmCfg(source.name)
    for number, key, value in _lines(source):
        if key == "add-host":
            cfg.hosts.append(parse_host(source.name, number, value))
        else:
            cfg.options[key] = Option(key, value, number)
    return cfg


def parse_host(file: str, line: int, value: str, what: str = "add-host") -> Host:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise FreedmError(file, line, f"{what} = {value!r}: must be host:port")
    if int(port) == 0 or not host.isascii() or any(ch.isspace() for ch in host):
        raise FreedmError(file, line, f"{what} = {value!r}: must be host:port, port 1..65535")
    return Host(host, int(port), line)


def parse_bool(file: str, option: Option) -> bool:
    word = option.value.lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise FreedmError(file, option.line, f"{option.key} = {option.value!r}: must be 1 or 0")


def parse_float(file: str, option: Option) -> float:
    try:
        return float(option.value)
    except ValueError:
        raise FreedmError(
            file, option.line, f"{option.key} = {option.value!r}: must be a number"
        ) from None


def parse_port(file: str, option: Option) -> int:
    if option.value.isascii() and option.value.isdigit() and 0 < int(option.value) < 65536:
        return int(option.value)
    raise FreedmError(file, option.line, f"{option.key} = {option.value!r}: must be 1..65535")


def parse_timings(source: Source) -> tuple[dict[str, int], dict[str, int], list[Note]]:
    """(values, the line of each, notes) of a ``timings.cfg``: a value that is not a whole
    number of ms is refused, as FREEDM refuses it; keys this project has no module for
    (``VVC_*``) or does not know are noted."""
    values: dict[str, int] = {}
    lines: dict[str, int] = {}
    notes = []
    for number, key, value in _lines(source):
        if not (value.isascii() and value.isdigit()):
            raise FreedmError(
                source.name, number, f"{key} = {value!r}: must be a whole number of ms"
            )
        if IGNORED_KEYS.match(key):
            why = "Volt-Var control is not a module of this project"
            notes.append(Note(source.name, number, key, why))
        elif key not in TIMING_KEYS:
            notes.append(Note(source.name, number, key, "not a timing key of this project"))
        else:
            values[key] = int(value)
            lines[key] = number
    return values, lines, notes
