"""The original simulation server's XML adapter file (``simserv.xml``), read as our TOML.

FREEDM's ``pscad-interface`` is configured by::

    <root>
      <adapter type="simulation" port="5000">
        <state>
          <entry index="1"><device>SST1</device><signal>gateway</signal><value>0</value></entry>
        </state>
        <command> ... </command>
      </adapter>
    </root>

:func:`xml_document` turns that into the document :func:`hil.config.check_document` checks
(``[[adapters]]`` with ``states`` and ``commands``), and a locator giving each part's line,
so the same rules and messages apply. Differences the conversion bridges: an adapter has no
name in the original, so it is named ``<type>-<port>`` unless it has a ``name`` attribute;
an entry has no device type, so ``<type>`` may be given and is otherwise the one device type
that has the signal (``gateway`` → Sst, ``drain`` → Load, ...; a signal of no type, or of
several, needs ``<type>``). ``host`` may be an attribute. Pure: the text is given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from config.device_types import device_types
from config.errors import ConfigIssue, format_path
from config.xmltree import Element, ExpatError, parse_xml
from hil.config import Loc, Locator

_TABLES = {"state": "states", "command": "commands"}
Refuse = Callable[[Loc, int, str], None]


def xml_document(text: str, file: str) -> tuple[dict[str, Any] | None, Locator, list[ConfigIssue]]:
    """(document or None, where each part is, issues the conversion found)."""
    lines: dict[Loc, int] = {}

    def where(loc: Loc) -> int | None:
        for n in range(len(loc), 0, -1):
            if loc[:n] in lines:
                return lines[loc[:n]]
        return None

    try:
        root = parse_xml(text)
    except ExpatError as exc:
        issue = ConfigIssue(file, "", f"malformed XML: {exc}", line=exc.lineno)
        return None, where, [issue]
    issues: list[ConfigIssue] = []

    def refuse(loc: Loc, line: int, rule: str) -> None:
        lines.setdefault(loc, line)
        issues.append(ConfigIssue(file, format_path(loc), rule, line=line))

    if root.tag != "root":
        refuse((), root.line, f"the document element is <{root.tag}>; expected <root>")
    adapters: list[dict[str, Any]] = []
    for node in root.children:
        if node.tag != "adapter":
            refuse(("adapters",), node.line, f"<{node.tag}> in <root>; only <adapter> belongs")
            continue
        loc: Loc = ("adapters", len(adapters))
        for key in ("type", "port", "name", "host"):
            lines[(*loc, key)] = node.line
        lines[loc] = node.line
        adapter: dict[str, Any] = {
            key: value for key, value in node.attrs.items() if key not in ("port",)
        }
        if "port" in node.attrs:
            adapter["port"] = _number(node.attrs["port"], int)
        adapter.setdefault("name", f"{node.attrs.get('type', 'adapter')}-{node.attrs.get('port')}")
        for child in node.children:
            table = _TABLES.get(child.tag)
            if table is None:
                adapter[child.tag] = child.text.strip()
                lines[(*loc, child.tag)] = child.line
                continue
            if table in adapter:
                refuse((*loc, table), child.line, f"more than one <{child.tag}> table")
                continue
            lines[(*loc, table)] = child.line
            adapter[table] = [
                _entry(entry, table, (*loc, table, n), lines, refuse)
                for n, entry in enumerate(child.children)
            ]
        adapters.append(adapter)
    return {"adapters": adapters}, where, issues


def _entry(
    node: Element, table: str, loc: Loc, lines: dict[Loc, int], refuse: Refuse
) -> dict[str, Any]:
    lines[loc] = node.line
    lines[(*loc, "index")] = node.line
    entry: dict[str, Any] = {}
    for key, value in node.attrs.items():
        entry[key] = _number(value, int) if key == "index" else value
    for child in node.children:
        lines[(*loc, child.tag)] = child.line
        if child.tag in entry:
            refuse((*loc, child.tag), child.line, f"more than one <{child.tag}> in an entry")
            continue
        value = child.text.strip()
        entry[child.tag] = _number(value, float) if child.tag == "value" else value
    if "type" not in entry and isinstance(entry.get("signal"), str):
        kinds = [
            kind.name
            for kind in device_types().values()
            if entry["signal"]
            in (kind.states + kind.optional_states if table == "states" else kind.commands)
        ]
        if len(kinds) == 1:
            entry["type"] = kinds[0]
    return entry


def _number(text: str, kind: type[int] | type[float]) -> int | float | str:
    """The number ``text`` spells, or the text itself (the checks then name it)."""
    try:
        return kind(text)
    except ValueError:
        return text
