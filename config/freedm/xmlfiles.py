"""FREEDM's ``device.xml`` and ``adapter.xml`` (reference §8.2, §8.4), read with their lines
(pure: the text is given).

The XML is read with :mod:`config.xmltree`, which knows each element's line, so a refusal
or a note can point at it. What FREEDM's loaders refuse outright (malformed XML, a
wrong element, an entry without its ``index``, ``type``, ``device`` or ``signal``, an
inheritance cycle) is a :class:`FreedmError`; rules between entries (indices, duplicates,
signals of a type) are judged with this project's own adapter checks in
:mod:`config.freedm.convert`.
"""

from __future__ import annotations

from dataclasses import dataclass

from config.freedm.sources import FreedmError, Source
from config.xmltree import Element, ExpatError, parse_xml

RTDS = "rtds"
_TABLES = ("state", "command")


def _leaf(file: str, node: Element) -> str:
    """The text of an element that must hold only text."""
    if node.children:
        raise FreedmError(file, node.line, f"<{node.tag}> must hold text, not elements")
    value = node.text.strip()
    if not value:
        raise FreedmError(file, node.line, f"<{node.tag}> is empty")
    return value


def _root(source: Source) -> Element:
    """The document element of ``source``; malformed XML is refused with its line."""
    try:
        root = parse_xml(source.text)
    except ExpatError as exc:
        raise FreedmError(source.name, exc.lineno, f"malformed XML: {exc}") from None
    if root.tag != "root":
        raise FreedmError(source.name, root.line, f"document element <{root.tag}>; expected <root>")
    return root


# -- device.xml ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FreedmType:
    """A ``<deviceType>``, its inherited signals included."""

    name: str
    states: tuple[str, ...]
    commands: tuple[str, ...]
    line: int


def parse_devices(source: Source) -> dict[str, FreedmType]:
    """Every device type of ``device.xml`` by id, with what it inherits."""
    file = source.name
    declared: dict[str, tuple[Element, list[str], list[str], list[str]]] = {}
    for node in _root(source).children:
        if node.tag != "deviceType":
            raise FreedmError(file, node.line, f"<{node.tag}> in <root>; only <deviceType>")
        parts: dict[str, list[str]] = {"id": [], "extends": [], "state": [], "command": []}
        for child in node.children:
            if child.tag not in parts:
                raise FreedmError(file, child.line, f"<{child.tag}> in a <deviceType>")
            value = _leaf(file, child)
            if value in parts[child.tag] and child.tag != "id":
                raise FreedmError(file, child.line, f"<{child.tag}>{value} twice in one type")
            parts[child.tag].append(value)
        if len(parts["id"]) != 1:
            raise FreedmError(file, node.line, "a <deviceType> needs exactly one <id>")
        name = parts["id"][0]
        if name in declared:
            raise FreedmError(file, node.line, f"device type {name} defined twice")
        declared[name] = (node, parts["extends"], parts["state"], parts["command"])
    resolved: dict[str, FreedmType] = {}
    for name in declared:
        _resolve(file, name, declared, resolved, ())
    return resolved


def _resolve(
    file: str,
    name: str,
    declared: dict[str, tuple[Element, list[str], list[str], list[str]]],
    resolved: dict[str, FreedmType],
    path: tuple[str, ...],
) -> FreedmType:
    if name in resolved:
        return resolved[name]
    node, parents, states, commands = declared[name]
    if name in path:
        raise FreedmError(file, node.line, f"device type {name} inherits from itself")
    all_states, all_commands = list(states), list(commands)
    for parent in parents:
        if parent not in declared:
            raise FreedmError(file, node.line, f"{name} extends {parent}, which is not defined")
        base = _resolve(file, parent, declared, resolved, (*path, name))
        all_states += [s for s in base.states if s not in all_states]
        all_commands += [c for c in base.commands if c not in all_commands]
    resolved[name] = FreedmType(name, tuple(all_states), tuple(all_commands), node.line)
    return resolved[name]


# -- adapter.xml -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One ``<entry index="i">`` of a state or command table."""

    index: int
    type: str
    device: str
    signal: str
    line: int


@dataclass(frozen=True)
class FreedmAdapter:
    """One ``<adapter>``; ``host``/``port`` and the tables are read for rtds adapters only
    (others are not carried over: ``entries`` counts theirs)."""

    name: str
    type: str
    line: int
    host: str | None = None
    port: int | None = None
    states: tuple[Entry, ...] = ()
    commands: tuple[Entry, ...] = ()
    entries: int = 0


def parse_adapters(source: Source) -> list[FreedmAdapter]:
    """Every ``<adapter>`` of ``adapter.xml``, in file order."""
    file = source.name
    adapters = []
    for node in _root(source).children:
        if node.tag != "adapter":
            raise FreedmError(file, node.line, f"<{node.tag}> in <root>; only <adapter>")
        name, kind = node.attrs.get("name", "").strip(), node.attrs.get("type", "").strip()
        if not name or not kind:
            raise FreedmError(file, node.line, 'an <adapter> needs name="..." and type="..."')
        if kind != RTDS:
            count = sum(len(c.children) for c in node.children if c.tag in _TABLES)
            adapters.append(FreedmAdapter(name, kind, node.line, entries=count))
            continue
        host, port = _info(file, node)
        tables = {tag: _table(file, node, tag) for tag in _TABLES}
        adapters.append(
            FreedmAdapter(name, kind, node.line, host, port, tables["state"], tables["command"])
        )
    return adapters


def _one(file: str, node: Element, tag: str) -> Element:
    found = [child for child in node.children if child.tag == tag]
    if len(found) != 1:
        what = "no" if not found else "more than one"
        raise FreedmError(file, node.line, f"<{node.tag}> has {what} <{tag}>; it needs one")
    return found[0]


def _info(file: str, node: Element) -> tuple[str, int]:
    info = _one(file, node, "info")
    host = _leaf(file, _one(file, info, "host"))
    port_node = _one(file, info, "port")
    port = _leaf(file, port_node)
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise FreedmError(file, port_node.line, f"<port>{port}: must be 1..65535")
    return host, int(port)


def _table(file: str, adapter: Element, tag: str) -> tuple[Entry, ...]:
    entries = []
    for node in _one(file, adapter, tag).children:
        if node.tag != "entry":
            raise FreedmError(file, node.line, f"<{node.tag}> in <{tag}>; only <entry>")
        index = node.attrs.get("index", "")
        if not (index.isascii() and index.isdigit()):
            raise FreedmError(file, node.line, f'<entry index="{index}">: must be 1, 2, ...')
        parts: dict[str, str] = {}
        for child in node.children:
            if child.tag not in ("type", "device", "signal") or child.tag in parts:
                raise FreedmError(
                    file, child.line, "an <entry> holds exactly <type>, <device>, <signal>"
                )
            parts[child.tag] = _leaf(file, child)
        if len(parts) != 3:
            missing = ", ".join(f"<{t}>" for t in ("type", "device", "signal") if t not in parts)
            raise FreedmError(file, node.line, f"an <entry> without {missing}")
        device, signal = parts["device"], parts["signal"]
        entries.append(Entry(int(index), parts["type"], device, signal, node.line))
    return tuple(entries)
