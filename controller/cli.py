"""The ``dgi`` command line."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from config.errors import ConfigError
from config.loader import load_site
from config.site import Site
from controller.logs import setup_logging

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="smartgrid-dgi: a HIL smart-grid controller"
)
console = Console()

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="site TOML file")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="more logging")]


def load_or_exit(path: Path) -> Site:
    """Load a site, or print every error and exit 1."""
    try:
        return load_site(path)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(exc.issues)} error(s); refusing to start", err=True)
        raise typer.Exit(1) from None


@app.command("check-config")
def check_config(files: Annotated[list[Path], typer.Argument(help="site files")]) -> None:
    """Validate site files: print every error with file, line, path, value and rule."""
    failed = False
    for file in files:
        try:
            site = load_site(file)
        except ConfigError as exc:
            failed = True
            for issue in exc.issues:
                typer.echo(str(issue), err=True)
            typer.echo(f"{file}: {len(exc.issues)} error(s)", err=True)
            continue
        typer.echo(
            f"{file}: OK — site {site.name}: "
            f"{len(site.nodes)} node(s), {len(site.devices)} device(s)"
        )
    if failed:
        raise typer.Exit(1)


@app.command()
def simulate(
    config: ConfigOption,
    endpoints: Annotated[
        Path | None, typer.Option(help="write where each device listens to this JSON file")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    verbose: Verbose = 0,
) -> None:
    """Serve every simulated device of a site on Modbus (TCP, and RTU where configured)."""
    from controller.simulate_cmd import run_simulator

    setup_logging(verbose)
    site = load_or_exit(config)
    sys.exit(asyncio.run(run_simulator(site, endpoints, duration, console)))


@app.command()
def demo(
    config: ConfigOption = Path("config/examples/three-substations.toml"),
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    interval: Annotated[float, typer.Option(help="seconds between reads")] = 0.5,
    verbose: Verbose = 0,
) -> None:
    """Start the simulated site and show a live table of device values read through the drivers."""
    from controller.demo_cmd import run_device_demo

    setup_logging(verbose)
    site = load_or_exit(config)
    sys.exit(asyncio.run(run_device_demo(site, duration, interval, console)))


def main() -> None:
    app()
