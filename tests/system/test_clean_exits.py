"""Every way ``dgi demo``, ``dgi run`` and ``dgi simulate`` end — Ctrl-C, SIGTERM, the end of
``--duration`` — ends without a traceback: a signal during start-up and one while running,
a short and a longer duration (a race shows on some runs only, at some moments)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, copy_site

DGI = [sys.executable, "-m", "controller"]
MOMENTS = (0.4, 2.5)  # seconds after the start: during start-up, and while it runs


def command(kind: str, site: Path) -> list[str]:
    return {
        "demo": [*DGI, "demo", "--config", str(site)],
        "run": [*DGI, "run", "--config", str(site), "--node", "sst1"],
        "simulate": [*DGI, "simulate", "--config", str(site)],
    }[kind]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exits")
    path = copy_site("three-substations.toml", directory)
    subprocess.run([*DGI, "keygen", str(directory / "group.key")], check=True, cwd=ROOT)
    return path


@pytest.mark.parametrize("ending", ["SIGINT", "SIGTERM", "duration"])
@pytest.mark.parametrize("kind", ["demo", "run", "simulate"])
def test_no_traceback_on_exit(kind: str, ending: str, site: Path) -> None:
    for attempt, moment in enumerate(MOMENTS):
        args = command(kind, site)
        if ending == "duration":
            args += ["--duration", f"{moment:g}"]
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            if ending != "duration":
                time.sleep(moment)
                proc.send_signal(getattr(signal, ending))
            _, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
        text = err.decode(errors="replace")
        assert "Traceback" not in text, f"{kind} ({ending}, attempt {attempt + 1}):\n{text}"
        # stopped before it could start (still importing): 128 + the signal, still no traceback
        early = {"SIGINT": 130, "SIGTERM": 143}.get(ending)
        assert proc.returncode in (0, early), f"{kind} ({ending}) exited {proc.returncode}:\n{text}"
