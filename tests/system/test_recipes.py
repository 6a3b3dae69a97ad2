"""Every ```sh block of README.md and docs/*.md runs as written, the way pymodbus runs its
shipped examples: each in a fresh copy of the repository (its example sites moved to free
ports, the block's addresses with them), with ``bash -e``, bounded in time. A block must stop
what it starts: a process of the block still running when it ends fails the test.

The fresh-machine block (``make demo`` / ``make test``) is what runs this test; it is not run
again here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, group_ends, kill_group, require_tool

SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOOLS = ("curl", "prometheus", "promtool", "mbpoll", "socat")
ADDRESS = re.compile(r"\b(127\.0\.0\.1|localhost):(\d+)")
PORT_LINE = re.compile(r"(?m)^(\s*port\s*=\s*)(\d+)")
LIMIT_S = 180


@dataclass(frozen=True)
class Recipe:
    document: str
    line: int
    text: str


def recipes() -> list[Recipe]:
    found = []
    for path in DOCUMENTS:
        text = path.read_text(encoding="utf-8")
        for match in SH_BLOCK.finditer(text):
            block = match.group(1)
            commands = [line for line in block.splitlines() if line.strip()]
            if all(line.startswith("make ") for line in commands):
                continue  # the fresh-machine block: it is what runs these tests
            line = text.count("\n", 0, match.start()) + 1
            found.append(Recipe(str(path.relative_to(ROOT)), line, block))
    return found


def venv() -> Path:
    own = ROOT / ".venv"
    return own if own.is_dir() else Path(sys.executable).resolve().parent.parent


def mirror(directory: Path) -> tuple[Path, dict[int, int]]:
    """A copy of the repository whose example sites listen on free ports; the port map."""
    repo = directory / "repo"
    ignored = shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "test-artifacts", "__pycache__", ".*_cache",
        "logs", "*.key", "*.token", "*.log",
    )  # fmt: skip
    shutil.copytree(ROOT, repo, ignore=ignored, symlinks=True)
    (repo / ".venv").symlink_to(venv(), target_is_directory=True)
    ports: dict[int, int] = {}

    def moved(port: str) -> int:
        old = int(port)
        if old not in ports:
            ports[old] = free_port()
        return ports[old]

    files = [*(repo / "config" / "examples").glob("*.toml")]
    files.append(repo / "monitoring" / "prometheus" / "prometheus.yml")
    files += (repo / "scenarios" / "cosim").glob("*.json")  # helics run files: the broker's too
    for path in files:
        text = path.read_text(encoding="utf-8")
        text = PORT_LINE.sub(lambda m: f"{m.group(1)}{moved(m.group(2))}", text)
        text = ADDRESS.sub(lambda m: f"{m.group(1)}:{moved(m.group(2))}", text)
        path.write_text(text, encoding="utf-8")
    return repo, ports


@pytest.mark.parametrize("recipe", recipes(), ids=lambda r: f"{r.document}:{r.line}")
@pytest.mark.timeout(LIMIT_S + 30)
def test_the_recipe_runs_as_written(recipe: Recipe, tmp_path: Path) -> None:
    for tool in TOOLS:
        if re.search(rf"(^|[\s;&|(]){tool}\b", recipe.text, re.MULTILINE):
            require_tool(tool)
    repo, ports = mirror(tmp_path)
    text = ADDRESS.sub(
        lambda m: f"{m.group(1)}:{ports.setdefault(int(m.group(2)), free_port())}", recipe.text
    )
    env = {**os.environ, "COLUMNS": "120"}
    # a recipe that fails stops what it started, so the test fails at once with its error
    text = "trap 'kill $(jobs -p) 2> /dev/null || true' EXIT\n" + text
    process = subprocess.Popen(
        ["bash", "-e", "-o", "pipefail", "-c", text],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: what it starts can be found
    )
    try:
        try:
            output, _ = process.communicate(timeout=LIMIT_S)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            shown = output.decode(errors="replace")
            pytest.fail(f"{recipe.document}:{recipe.line} ran over {LIMIT_S} s:\n{shown}")
        shown = output.decode(errors="replace")
        left = not group_ends(process.pid, 5)
    finally:
        kill_group(process.pid)
    assert process.returncode == 0, f"{recipe.document}:{recipe.line} failed:\n{shown}"
    assert not left, f"{recipe.document}:{recipe.line} left processes running:\n{shown}"
    assert "Traceback" not in shown, shown
    for log in sorted((repo / "logs").glob("*.log")):
        written = log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in written, (
            f"{recipe.document}:{recipe.line}: {log.name}:\n{written}"
        )


def test_the_readme_has_its_recipes() -> None:
    readme = [r for r in recipes() if r.document == "README.md"]
    assert len(readme) >= 3
    assert all(".venv/bin/dgi" in r.text for r in readme)
    for recipe in recipes():
        for line in recipe.text.splitlines():
            assert not re.match(r"\s*dgi\s", line), f"{recipe.document}:{recipe.line}: {line}"
