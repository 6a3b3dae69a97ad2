"""A small XML tree that knows each element's line (pure: the text is given).

The standard library's ``xml.etree`` forgets where elements were; FREEDM's XML files
(``adapter.xml``, ``device.xml``, the simulation server's ``simserv.xml``) are reported by
line, so they are read with expat into :class:`Element` objects instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.parsers import expat

ExpatError = expat.ExpatError


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    line: int
    children: list[Element] = field(default_factory=list)
    text: str = ""


def parse_xml(text: str) -> Element:
    """The document element of ``text``; raise :class:`ExpatError` (with ``lineno``)."""
    parser = expat.ParserCreate()
    stack: list[Element] = []
    top: list[Element] = []

    def start(tag: str, attrs: dict[str, str]) -> None:
        node = Element(tag, attrs, parser.CurrentLineNumber)
        (stack[-1].children if stack else top).append(node)
        stack.append(node)

    def end(_tag: str) -> None:
        stack.pop()

    def data(chunk: str) -> None:
        if stack:
            stack[-1].text += chunk

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parser.Parse(text, True)
    return top[0]
