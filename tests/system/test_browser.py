"""Headless Chromium (the Debian package) opens a node's page: the chart fills with data from
the event stream, the group table shows every node with its state and age, and the residual;
the grid box shows its substation's bus voltage and line loading from its grid meter, marked
outside the band. The screenshot is kept as an artifact."""

from __future__ import annotations

import re
from pathlib import Path

from tests.browser import Chromium
from tests.conftest import ROOT, require_tool
from tests.system.conftest import Demo

ARTIFACTS = ROOT / "test-artifacts"


def test_the_live_page_draws_the_group(metered_demo: Demo, tmp_path: Path) -> None:
    demo = metered_demo
    with Chromium(require_tool("chromium"), tmp_path / "profile") as browser:
        browser.open(demo.url("sst2", "/"))
        browser.wait_for("document.title === 'DGI sst2'")
        browser.wait_for("Number(document.getElementById('chart').dataset.points) >= 60")
        series = browser.evaluate(
            "Array.from(document.querySelectorAll('#chart polyline.series'))"
            ".map(p => p.dataset.node + ':' + p.dataset.kind + ':' + p.getAttribute('points').split(' ').length)"
        )
        rows = browser.evaluate(
            "Array.from(document.querySelectorAll('#group tbody tr')).map(r => r.dataset.node)"
        )
        heard = browser.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('#group tbody tr'))"
            ".map(r => [r.dataset.node, r.querySelector('td.state').textContent + ' ' +"
            " r.querySelector('td.age').textContent]))"
        )
        residual = browser.evaluate("document.getElementById('residual').textContent")
        table = browser.evaluate("document.getElementById('load-table').textContent")
        live = browser.evaluate("document.getElementById('connection').textContent")
        group = browser.evaluate("document.getElementById('group-id').textContent")
        browser.wait_for("document.getElementById('grid-voltage').textContent !== '—'")
        grid = browser.evaluate(
            "Object.fromEntries(['meter', 'voltage', 'loading', 'trafo', 'import'].map(k =>"
            " [k, document.getElementById('grid-' + k).textContent + '|' +"
            " (document.getElementById('grid-' + k).dataset.alarm || '')]))"
        )
        ARTIFACTS.mkdir(exist_ok=True)
        browser.screenshot(ARTIFACTS / "node-page.png")
    assert sorted(rows) == ["sst1", "sst2", "sst3"]
    assert {s.rsplit(":", 1)[0] for s in series} == {
        f"{n}:{k}" for n in ("sst1", "sst2", "sst3") for k in ("gateway", "net_generation")
    }
    assert all(int(s.rsplit(":", 1)[1]) >= 10 for s in series), series
    assert heard["sst2"].endswith("this node")
    for peer in ("sst1", "sst3"):  # each peer's state, with how long ago it was heard
        state, age = heard[peer].split(" ", 1)
        assert state in ("supply", "demand", "normal"), heard
        assert age.endswith(" s ago"), heard
    assert abs(float(residual)) < 1.0  # the example site can be balanced
    assert "LOAD TABLE (Power Management)" in table
    assert live == "live"
    assert re.fullmatch(r"sst1\.\d+\.\d+, led by sst1", group), group
    assert grid == {
        "meter": "meter sst2-meter|",
        "voltage": "0.932 pu|true",  # below 0.95 pu: marked
        "loading": "61.5 %|false",
        "trafo": "47.0 %|false",
        "import": "12.25 kW|false",
    }
    assert (ARTIFACTS / "node-page.png").stat().st_size > 10_000


def test_the_api_docs_work_offline(demo: Demo, tmp_path: Path) -> None:
    """Swagger UI renders every operation with assets from the node alone; there is no ReDoc
    (its page fetches its logo from redoc.ly)."""
    base = demo.url("sst1")
    with Chromium(require_tool("chromium"), tmp_path / "profile") as browser:
        browser.open(f"{base}/docs")
        operations = browser.wait_for("document.querySelectorAll('.opblock').length")
        swagger = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert operations >= 10  # every path and method of docs/openapi.json
    for name in swagger:
        assert name.startswith(base), f"fetched from outside the node: {name}"
