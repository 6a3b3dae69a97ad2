"""docs/architecture.svg is the rendering of docs/architecture.dot (Graphviz's dot)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import require_tool

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _drawing(svg: str) -> str:
    """The SVG without its comments (graphviz's version, each node's name)."""
    return re.sub(r"<!--.*?-->", "", svg, flags=re.DOTALL).strip()


def test_committed_svg_is_the_dot_source_rendered() -> None:
    dot = require_tool("dot")
    rendered = subprocess.run(
        [dot, "-Tsvg", str(DOCS / "architecture.dot")],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    committed = (DOCS / "architecture.svg").read_text(encoding="utf-8")
    assert _drawing(committed) == _drawing(rendered), (
        "docs/architecture.svg is not docs/architecture.dot's: run "
        "dot -Tsvg docs/architecture.dot -o docs/architecture.svg"
    )


def test_architecture_page_shows_the_diagram() -> None:
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    assert "architecture.svg" in page
    assert "architecture.dot" in page
