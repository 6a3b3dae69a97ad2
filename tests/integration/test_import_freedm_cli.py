"""``dgi import-freedm`` as a real process: the written site loads with the site loader, the
notes are printed, an existing file is kept, a bad input file is refused (exit 2)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from config.loader import load_site
from tests.conftest import ROOT

DGI = [sys.executable, "-m", "controller"]
SAMPLE = ROOT / "tests" / "data" / "freedm"
CFG = SAMPLE / "config" / "freedm.cfg"


def dgi(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*DGI, *map(str, args)], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    """A copy of the sample Broker directory (its config/ holds the FREEDM files)."""
    shutil.copytree(SAMPLE, tmp_path / "Broker")
    return tmp_path / "Broker"


def test_the_imported_site_loads_and_the_notes_are_printed(tmp_path: Path) -> None:
    out = tmp_path / "site.toml"
    result = dgi("import-freedm", "--cfg", CFG, "--out", out)
    assert result.returncode == 0, result.stderr
    site = load_site(out)  # what dgi run and dgi check-config load
    assert [(n.id, n.peer, n.api) for n in site.nodes] == [
        ("dgi1", "dgi1.lab:51871", "dgi1.lab:8101"),
        ("dgi2", "dgi2.lab:51872", "dgi2.lab:8102"),
        ("dgi3", "dgi3.lab:51873", "dgi3.lab:8103"),
    ]
    assert [(d.node_id, d.id, d.type) for d in site.devices] == [
        ("dgi1", "SST1", "Sst"),
        ("dgi1", "DRER1", "Drer"),
        ("dgi1", "DESD1", "Desd"),
        ("dgi1", "LOAD1", "Load"),
        ("dgi1", "LOGGER1", "Logger"),
        ("dgi1", "OMEGA1", "Omega"),
    ]
    assert all(d.rtds is not None and d.rtds.name == "pscad1" for d in site.devices)
    assert (site.algorithm.mode, site.algorithm.migration_step) == ("freedm", 2.0)
    assert site.algorithm.check_invariant
    assert not site.algorithm.malicious
    assert (site.timings.LB_ROUND_TIME, site.timings.DEV_RTDS_DELAY) == (3000, 40)
    notes = [line for line in result.stderr.splitlines() if line.startswith("not carried over: ")]
    assert len(notes) == 14
    assert any("adapter.xml:24: adapter loads: left out" in line for line in notes)
    assert any("(LOAD2 pload): no device type here has this" in line for line in notes)
    assert any("adapter bench (type fake, 1 entry)" in line for line in notes)
    assert any("freedm.cfg:12: factory-port" in line for line in notes)
    assert "site freedm: 3 node(s), 6 device(s), 1 rtds adapter(s); 14 thing(s)" in result.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Imported from a FREEDM DGI configuration by dgi import-freedm:")
    assert "# Not carried over (14):" in text
    checked = dgi("check-config", out)
    assert checked.returncode == 0, checked.stderr


def test_points_list_reads_the_imported_site(tmp_path: Path) -> None:
    out = tmp_path / "site.toml"
    assert dgi("import-freedm", "--cfg", CFG, "--out", out).returncode == 0
    listed = dgi("points-list", out, "--node", "dgi1")
    assert listed.returncode == 0, listed.stderr
    rows = list(csv.DictReader(io.StringIO(listed.stdout, newline="")))
    places = {(r["device"], r["signal"], r["table"], r["address"]) for r in rows}
    assert ("SST1", "gateway", "states", "1") in places
    assert ("SST1", "gateway", "commands", "1") in places
    assert ("LOGGER1", "groupStatus", "commands", "3") in places
    assert ("OMEGA1", "frequency", "states", "6") in places


def test_an_existing_output_is_kept_without_force(tmp_path: Path) -> None:
    out = tmp_path / "site.toml"
    out.write_text("mine\n", encoding="utf-8")
    result = dgi("import-freedm", "--cfg", CFG, "--out", out)
    assert result.returncode == 1
    assert "exists; not overwritten (--force replaces it)" in result.stderr
    assert out.read_text(encoding="utf-8") == "mine\n"
    result = dgi("import-freedm", "--cfg", CFG, "--out", out, "--force")
    assert result.returncode == 0, result.stderr
    load_site(out)


def test_without_out_the_site_goes_to_stdout_and_the_notes_to_stderr() -> None:
    result = dgi("import-freedm", "--cfg", CFG, "--name", "lab", "--node-port-base", "9100")
    assert result.returncode == 0, result.stderr
    site = tomllib.loads(result.stdout)
    assert site["site"]["name"] == "lab"
    assert [n["api"] for n in site["nodes"]] == ["dgi1.lab:9100", "dgi2.lab:9101", "dgi3.lab:9102"]
    assert "not carried over: " not in result.stdout
    assert "not carried over: " in result.stderr


def test_options_override_the_files_the_cfg_names(lab: Path, tmp_path: Path) -> None:
    timings = lab / "config" / "timings.cfg"
    text = timings.read_text(encoding="utf-8")
    slow5 = tmp_path / "slow5.cfg"
    slow5.write_text(
        "".join(
            line + "\n"
            for line in text.replace("LB_ROUND_TIME=3000", "LB_ROUND_TIME=410")
            .replace("DEV_RTDS_DELAY=40", "DEV_RTDS_DELAY=50")
            .replace("DEV_SOCKET_TIMEOUT=900", "DEV_SOCKET_TIMEOUT=1000")
            .splitlines()
            if not line.startswith("VVC_")
        ),
        encoding="utf-8",
    )
    out = tmp_path / "site.toml"
    result = dgi("import-freedm", "--cfg", lab / "config" / "freedm.cfg", "--timings", slow5,
                 "--local", "dgi3.lab:51873", "--out", out)  # fmt: skip
    assert result.returncode == 0, result.stderr
    site = load_site(out)
    assert site.document.timings.profile == "slow-5"
    assert {d.node_id for d in site.devices} == {"dgi3"}


def test_the_default_timings_file_is_freedms_config_timings_cfg(lab: Path) -> None:
    cfg = lab / "config" / "freedm.cfg"
    cfg.write_text(
        cfg.read_text(encoding="utf-8").replace("timings-config=config/timings.cfg\n", ""),
        encoding="utf-8",
    )
    result = dgi("import-freedm", "--cfg", cfg)
    assert result.returncode == 0, result.stderr
    assert tomllib.loads(result.stdout)["timings"]["LB_ROUND_TIME"] == 3000
    (lab / "config" / "timings.cfg").unlink()
    result = dgi("import-freedm", "--cfg", cfg)
    assert result.returncode == 0, result.stderr
    assert "timings: none read: the site runs profile fast-5" in result.stderr


@pytest.mark.parametrize(
    ("file", "edit", "message"),
    [
        ("adapter.xml", lambda t: t.replace("</root>", ""), "adapter.xml:45: malformed XML: no element found"),
        ("adapter.xml", lambda t: t.replace("<signal>drain</signal></entry>", "</entry>", 1), "adapter.xml:14: an <entry> without <signal>"),
        ("device.xml", lambda t: t.replace("<id>Pump</id>", "<id>Sst</id>"), "device.xml:40: device type Sst defined twice"),
        ("freedm.cfg", lambda t: t.replace("add-host=dgi2.lab:51872", "add-host=dgi2.lab"), "freedm.cfg:4: add-host = 'dgi2.lab': must be host:port"),
        ("timings.cfg", lambda t: t.replace("GM_PHASE_TIME=530", "GM_PHASE_TIME=fast"), "timings.cfg:8: GM_PHASE_TIME = 'fast': must be a whole number of ms"),
        ("freedm.cfg", lambda t: t.replace("config/adapter.xml", "config/adapters.xml"), "freedm.cfg:8: adapter-config = config/adapters.xml: not found"),
    ],
    ids=["malformed-xml", "entry-without-signal", "type-twice", "add-host", "timing", "missing-file"],
)  # fmt: skip
def test_a_bad_input_file_is_refused_with_exit_2(
    lab: Path, file: str, edit: Callable[[str], str], message: str
) -> None:
    path = lab / "config" / file
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    out = lab / "site.toml"
    result = dgi("import-freedm", "--cfg", lab / "config" / "freedm.cfg", "--out", out)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_an_output_that_cannot_be_written_is_an_error(tmp_path: Path) -> None:
    result = dgi("import-freedm", "--cfg", CFG, "--out", tmp_path / "no" / "site.toml")
    assert result.returncode == 1
    assert "site.toml cannot be written: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_cfg_and_a_bad_local_are_refused(tmp_path: Path) -> None:
    result = dgi("import-freedm", "--cfg", tmp_path / "nope.cfg")
    assert result.returncode == 2
    assert "nope.cfg: file not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = dgi("import-freedm", "--cfg", CFG, "--local", "dgi1.lab")
    assert result.returncode == 2
    assert "is not HOST:PORT" in result.stderr
