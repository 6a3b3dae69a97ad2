"""``make demo``'s site, a compressed day: the balancing never stops. Piped, the demo prints a
line a second; on a terminal it redraws its table in place; and every node keeps migrating,
counted by each node's own API."""

from __future__ import annotations

import itertools
import os
import pty
import re
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from config.loader import load_site
from tests.conftest import ROOT, copy_site

DGI = [sys.executable, "-m", "controller"]
LINE = re.compile(
    r"^(?P<clock>\d\d:\d\d) · day (?P<day>\d\d:\d\d) \(×360\) round (?P<round>\d+) \| "
    r"(?P<nodes>.*) \| residual (?P<residual>[-+]\d+\.\d\d) kW \| migrations (?P<migrations>\d+)"
)


def migrations(api: str) -> int:
    counters = httpx.get(f"http://{api}/api/v1/status", timeout=5).json()["counters"]
    return int(counters["migrations_in"] + counters["migrations_out"])


def test_piped_a_line_a_second_and_every_node_keeps_migrating(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    path = copy_site("demo-day.toml", tmp_path)
    site = load_site(path)
    command = [*DGI, "demo", "--config", str(path), "--duration", "38"]
    stderr = (tmp_path / "stderr.log").open("wb")
    demo = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr)
    processes.append(demo)
    lines: list[tuple[float, str]] = []

    def read() -> None:
        assert demo.stdout is not None
        for raw in demo.stdout:
            lines.append((time.monotonic(), raw.decode(errors="replace").rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    apis = {n.id: n.api for n in site.nodes}
    deadline = time.monotonic() + 30
    while not any(LINE.match(text) for _, text in lines):
        assert demo.poll() is None, (tmp_path / "stderr.log").read_text()
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)
    time.sleep(6)  # the first balancing
    counts = [{n: migrations(api) for n, api in apis.items()}]
    for _ in range(3):  # three windows of 8 s: every node migrates in each
        time.sleep(8)
        counts.append({n: migrations(api) for n, api in apis.items()})
    assert demo.wait(30) == 0, (tmp_path / "stderr.log").read_text()
    reader.join(5)

    for before, after in itertools.pairwise(counts):
        assert all(after[n] > before[n] for n in apis), counts
    summaries = [(at, LINE.match(text)) for at, text in lines]
    shown = [(at, m) for at, m in summaries if m is not None]
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(shown)]
    # a line a second, each as it is printed (flushed); slack for a loaded CI machine
    assert len(shown) >= 0.7 * 38, [text for _, text in lines]
    assert max(gaps) < 2.5, gaps
    rounds = [int(m["round"]) for _, m in shown]
    assert rounds == sorted(rounds)
    assert rounds[-1] > rounds[0] + 150
    assert len({m["nodes"] for _, m in shown}) >= 0.8 * len(shown)  # the figures keep moving
    assert len({m["day"] for _, m in shown}) == len(shown)  # the clock every second
    assert int(shown[-1][1]["migrations"]) > int(shown[5][1]["migrations"]) + 50
    assert "Traceback" not in (tmp_path / "stderr.log").read_text()


def test_on_a_terminal_the_table_redraws_in_place(
    tmp_path: Path, processes: list[subprocess.Popen[bytes]]
) -> None:
    path = copy_site("demo-day.toml", tmp_path)
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"}
    command = [*DGI, "demo", "--config", str(path), "--duration", "6"]
    demo = subprocess.Popen(command, cwd=ROOT, stdout=follower, stderr=follower, env=env)
    processes.append(demo)
    os.close(follower)
    output = b""
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the demo closed the terminal
                break
            if not chunk:
                break
            output += chunk
        elif demo.poll() is not None:
            break
    os.close(leader)
    assert demo.wait(10) == 0
    text = output.decode(errors="replace")
    titles = re.findall(
        r"demo-day · adaptive · (\d\d:\d\d) · day (\d\d:\d\d) \(×360\) · round (\d+)", text
    )
    assert len(titles) >= 10, text[-2000:]  # redrawn four times a second
    assert len({t[1] for t in titles}) >= 5  # the day clock moves
    assert "\x1b[" in text  # the cursor moves back up: in place, not scrolled
    assert "residual" in text
    assert "Traceback" not in text
