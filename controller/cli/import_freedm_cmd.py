"""``dgi import-freedm``: a FREEDM DGI configuration as a site file of this project.

The conversion is :func:`config.freedm.convert` (pure); this module finds and reads the files,
writes the site and checks that it loads as ``dgi run`` would load it. Files that the
``freedm.cfg`` names (``adapter-config``, ``device-config``, ``timings-config``) are relative
to the directory FREEDM runs in — the ``Broker`` directory, whose ``config/`` holds the cfg —
so a relative name is looked up beside the cfg, then one directory up; an option given on the
command line is taken as written. Exit 0: written; 1: not written (the output exists, or the
result does not load); 2: an input file cannot be read.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import typer

from config.errors import ConfigError, display_path
from config.freedm import FreedmError, Source, convert
from config.freedm.cfg import FreedmCfg, parse_cfg
from config.loader import load_site
from config.site import Site

#: freedm.cfg's option for each input, and FREEDM's default when the cfg names none.
OPTIONS = {"adapters": "adapter-config", "devices": "device-config", "timings": "timings-config"}
DEFAULTS = {"timings": "config/timings.cfg"}


class InputError(Exception):
    """An input file that cannot be found or read (exit 2)."""


@dataclass(frozen=True)
class Request:
    cfg: Path
    adapters: Path | None
    devices: Path | None
    timings: Path | None
    out: Path | None
    force: bool
    api_port_base: int
    local: str | None
    name: str | None


def read_source(path: Path) -> Source:
    try:
        return Source(display_path(path), path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{display_path(path)}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{display_path(path)}: cannot be read: {exc}") from None


def named_file(cfg_path: Path, parsed: FreedmCfg, role: str) -> Path | None:
    """The file freedm.cfg names for ``role`` (or FREEDM's default), None when there is none."""
    option = OPTIONS[role]
    value = parsed.path(option)
    candidates: list[Path]
    if value is None:
        default = DEFAULTS.get(role)
        if default is None:
            return None
        base = Path(default).name
        candidates = [cfg_path.parent / base, cfg_path.parent.parent / default]
        return next((p for p in candidates if p.is_file()), None)
    if Path(value).is_absolute():
        return Path(value)
    candidates = [cfg_path.parent / value, cfg_path.parent.parent / value]
    found = next((p for p in candidates if p.exists()), None)
    if found is None:
        line = parsed.options[option].line
        tried = " or ".join(display_path(p) for p in candidates)
        raise InputError(f"{parsed.file}:{line}: {option} = {value}: not found ({tried})")
    return found


def _sources(request: Request) -> tuple[Source, dict[str, Source | None]]:
    cfg = read_source(request.cfg)
    parsed = parse_cfg(cfg)
    given = {"adapters": request.adapters, "devices": request.devices, "timings": request.timings}
    sources: dict[str, Source | None] = {}
    for role, path in given.items():
        chosen = path if path is not None else named_file(request.cfg, parsed, role)
        sources[role] = None if chosen is None else read_source(chosen)
    return cfg, sources


def import_freedm(request: Request) -> int:
    """Run the import; print notes and the outcome; return the exit status."""
    if request.out is not None and request.out.exists() and not request.force:
        typer.echo(f"error: {request.out} exists; not overwritten (--force replaces it)", err=True)
        return 1
    try:
        cfg, sources = _sources(request)
        result = convert(
            cfg,
            adapters=sources["adapters"],
            devices=sources["devices"],
            timings=sources["timings"],
            local=request.local,
            api_port_base=request.api_port_base,
            site_name=request.name or "freedm",
        )
    except (InputError, FreedmError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        return 2
    for note in result.notes:
        typer.echo(f"not carried over: {note}", err=True)
    try:
        site = _write(result.toml, request.out)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo("error: the imported site does not load (a bug of the import)", err=True)
        return 1
    except OSError as exc:
        typer.echo(f"error: {request.out} cannot be written: {exc.strerror or exc}", err=True)
        return 1
    where = display_path(request.out) if request.out is not None else "stdout"
    typer.echo(
        f"{where}: site {site.name}: {len(site.nodes)} node(s), {len(site.devices)} device(s), "
        f"{len(site.document.rtds)} rtds adapter(s); {len(result.notes)} thing(s) not carried "
        "over (listed above and at the top of the file)",
        err=True,
    )
    return 0


def _write(text: str, out: Path | None) -> Site:
    """Load the site as ``dgi run`` loads one, then move it to ``out`` (or print it): a site
    that does not load is never left behind."""
    with tempfile.TemporaryDirectory(dir=None if out is None else out.parent) as scratch:
        path = Path(scratch) / (out.name if out is not None else "site.toml")
        path.write_text(text, encoding="utf-8")
        site = load_site(path)
        if out is not None:
            os.replace(path, out)
    if out is None:
        typer.echo(text, nl=False)
    return site
