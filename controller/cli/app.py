"""The ``dgi`` command line."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from rich.console import Console

from config.errors import ConfigError
from config.freedm import API_PORT_BASE
from config.loader import load_site
from config.site import Site
from controller.logs import setup_logging

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="smartgrid-dgi: a HIL smart-grid controller"
)
console = Console()

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="site TOML file")]
Verbose = Annotated[int, typer.Option("--verbose", "-v", count=True, help="more logging")]
LogFormat = Annotated[
    str, typer.Option("--log-format", help="text, or json: one JSON object per line")
]
PlantOption = Annotated[
    str | None,
    typer.Option(
        "--plant",
        help="simple (one shared bus) or pandapower (a feeder's AC power flow, [grid]); "
        "default: the site's [simulation] plant",
    ),
]


def plant_kind(value: str | None) -> Literal["simple", "pandapower"] | None:
    if value is None:
        return None
    if value == "simple":
        return "simple"
    if value == "pandapower":
        return "pandapower"
    raise typer.BadParameter("must be simple or pandapower", param_hint="--plant")


def log_format(value: str) -> str:
    if value not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    return value


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


def host_port(text: str | None, option: str) -> tuple[str, int] | None:
    if text is None:
        return None
    host, sep, port = text.rpartition(":")
    if not sep or not host or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise typer.BadParameter(f"{text!r} is not HOST:PORT", param_hint=option)
    return host, int(port)


@app.command()
def simulate(
    config: ConfigOption,
    endpoints: Annotated[
        Path | None, typer.Option(help="write where each device listens to this JSON file")
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(
            help="HOST:PORT for fault commands (dgi fault); default: the site's simulation.control"
        ),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    plant: PlantOption = None,
    log_fmt: LogFormat = "text",
    verbose: Verbose = 0,
) -> None:
    """Serve every simulated device of a site on Modbus (TCP, and RTU where configured)."""
    from controller.cli.lifecycle import stoppable
    from controller.cli.simulate_cmd import run_simulator

    setup_logging(verbose, fmt=log_format(log_fmt))
    site = load_or_exit(config)
    address = host_port(control, "--control")
    sys.exit(
        asyncio.run(
            stoppable(run_simulator(site, endpoints, duration, console, address, plant_kind(plant)))
        )
    )


@app.command()
def simserver(
    config: Annotated[Path, typer.Option("--config", "-c", help="simulation-server TOML file")],
    check: Annotated[bool, typer.Option("--check", help="only validate the file")] = False,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    log_fmt: LogFormat = "text",
    verbose: Verbose = 0,
) -> None:
    """FREEDM's PSCAD simulation server: rtds ports for controllers, a simulation port for
    PSCAD (SET, RST, GET), one shared table of (device, signal) cells."""
    from controller.cli.lifecycle import stoppable
    from controller.cli.simserver_cmd import run_simserver
    from hil.loader import load_simserver_config

    setup_logging(verbose, fmt=log_format(log_fmt))
    try:
        loaded = load_simserver_config(config)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        typer.echo(f"{len(exc.issues)} error(s); refusing to start", err=True)
        raise typer.Exit(1) from None
    if check:
        typer.echo(f"{config}: OK — {len(loaded.adapters)} adapter(s)")
        return
    sys.exit(asyncio.run(stoppable(run_simserver(loaded, duration, console))))


@app.command()
def fault(
    device: Annotated[str | None, typer.Argument(help="simulated device id")] = None,
    settings: Annotated[
        list[str] | None,
        typer.Argument(
            help="KEY=VALUE: latency_ms, jitter_ms, rate, close, no_answer, "
            "exception, garbage, values.POINT (nan, inf, -inf, a number; none removes)"
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="site whose simulation.control to use")
    ] = None,
    control: Annotated[str | None, typer.Option(help="HOST:PORT of dgi simulate --control")] = None,
    show: Annotated[bool, typer.Option("--show", help="every device's faults and counts")] = False,
    clear: Annotated[
        bool, typer.Option("--clear", help="remove the device's faults (no DEVICE: every one)")
    ] = False,
    restart: Annotated[
        bool, typer.Option("--restart", help="reboot the device: initial values")
    ] = False,
    stop: Annotated[bool, typer.Option("--stop", help="stop serving the device")] = False,
    start: Annotated[bool, typer.Option("--start", help="serve a stopped device again")] = False,
    plant: Annotated[
        bool,
        typer.Option(
            "--plant",
            help="change the plant instead: KEY=VALUE set the device's states "
            "(a Fid's state=0 opens it; a Load's drain, a Drer's generation)",
        ),
    ] = False,
) -> None:
    """Inject faults into a running `dgi simulate`: latency, exceptions, lies, restarts; or
    change its plant (`--plant`): open a Fid, step a load."""
    from controller.cli.fault_cmd import FaultCommandError, command_for, send

    address = host_port(control, "--control")
    if address is None and config is not None:
        site = load_or_exit(config)
        if site.simulation.control is not None:
            address = host_port(site.simulation.control, "--config")
    if address is None:
        raise typer.BadParameter(
            "give --control HOST:PORT or a --config whose [simulation] names control",
            param_hint="--control",
        )
    chosen = (("show", show), ("clear", clear), ("restart", restart), ("stop", stop),
              ("start", start), ("plant", plant))  # fmt: skip
    actions = [name for name, on in chosen if on]
    if len(actions) > 1:
        raise typer.BadParameter(
            "one of --show, --clear, --restart, --stop, --start, --plant at a time"
        )
    try:
        command = command_for(device, settings or [], actions[0] if actions else None)
        answer = send(address, command)
    except FaultCommandError as exc:
        raise typer.BadParameter(str(exc)) from None
    except OSError as exc:
        typer.echo(
            f"error: cannot reach dgi simulate at {address[0]}:{address[1]}: {exc}", err=True
        )
        raise typer.Exit(1) from None
    typer.echo(json.dumps(answer, indent=2))
    if not answer.get("ok"):
        raise typer.Exit(1)


@app.command()
def demo(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="site TOML file; default config/examples/demo-day.toml, or demo-grid.toml "
            "with --plant pandapower",
        ),
    ] = None,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    report: Annotated[
        str | None, typer.Option(help="print a report instead of the live table: json")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="override the site's algorithm mode: freedm or adaptive")
    ] = None,
    plant: PlantOption = None,
    verbose: Verbose = 0,
) -> None:
    """The simulated site and all its nodes on 127.0.0.1: watch them balance the load."""
    from controller.cli.demo_cmd import run_demo, with_mode
    from controller.cli.lifecycle import stoppable

    if report not in (None, "json"):
        raise typer.BadParameter("only 'json' is supported", param_hint="--report")
    if mode not in (None, "freedm", "adaptive"):
        raise typer.BadParameter("must be freedm or adaptive", param_hint="--mode")
    kind = plant_kind(plant)
    if config is None:
        example = "demo-grid.toml" if kind == "pandapower" else "demo-day.toml"
        config = Path("config/examples") / example
    setup_logging(verbose, quiet=verbose == 0)
    site = with_mode(load_or_exit(config), mode)
    sys.exit(asyncio.run(stoppable(run_demo(site, duration, report, console, kind))))


@app.command()
def devices(
    config: ConfigOption = Path("config/examples/three-substations.toml"),
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    interval: Annotated[float, typer.Option(help="seconds between reads")] = 0.5,
    verbose: Verbose = 0,
) -> None:
    """The simulated site and a live table of device values read back through the drivers."""
    from controller.cli.devices_cmd import run_device_table
    from controller.cli.lifecycle import stoppable

    setup_logging(verbose)
    site = load_or_exit(config)
    sys.exit(asyncio.run(stoppable(run_device_table(site, duration, interval, console))))


@app.command()
def run(
    config: ConfigOption,
    node: Annotated[str, typer.Option("--node", "-n", help="the node id this process runs")],
    hold_on_exit: Annotated[
        bool, typer.Option(help="leave setpoints as they are on exit instead of failsafe values")
    ] = False,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    trace: Annotated[
        Path | None, typer.Option(help="append every event of the node to this file (JSON lines)")
    ] = None,
    load_table: Annotated[
        bool, typer.Option("--load-table", help="log FREEDM's load table (else only with -v)")
    ] = False,
    log_fmt: LogFormat = "text",
    verbose: Verbose = 0,
) -> None:
    """Run one controller node until Ctrl-C or SIGTERM."""
    from controller.cli.lifecycle import stoppable
    from controller.cli.run_cmd import run_node

    setup_logging(verbose, fmt=log_format(log_fmt))
    site = load_or_exit(config)
    try:
        site.node(node)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(1) from None
    sys.exit(
        asyncio.run(
            stoppable(
                run_node(
                    site,
                    node,
                    release=not hold_on_exit,
                    duration=duration,
                    trace=trace,
                    load_table=load_table,
                )
            )
        )
    )


@app.command()
def probe(
    config: ConfigOption,
    node: Annotated[str | None, typer.Option(help="only this node's devices")] = None,
    device: Annotated[str | None, typer.Option(help="only this device")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the points as JSON")] = False,
    sunspec: Annotated[bool, typer.Option(help="list the SunSpec models instead")] = False,
) -> None:
    """Read every point of a site's devices once and never write: a safe first contact."""
    from controller.cli.probe_cmd import run_probe

    setup_logging(0, quiet=True)
    site = load_or_exit(config)
    errors = Console(stderr=True)
    sys.exit(
        asyncio.run(
            run_probe(site, node, device, console, errors, as_json=as_json, sunspec=sunspec)
        )
    )


@app.command("points-list")
def points_list(
    config: Annotated[Path, typer.Argument(help="site file")],
    node: Annotated[
        str | None, typer.Option("--node", "-n", help="only this node's points (default: all)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv (RFC 4180) or markdown")] = "csv",
) -> None:
    """Every point a node reads or writes: the sheet to configure a HIL testbed from."""
    from controller.cli.points_cmd import FORMATS, RENDERERS, point_rows

    if fmt not in FORMATS:
        raise typer.BadParameter("must be csv or markdown", param_hint="--format")
    site = load_or_exit(config)
    try:
        rows = point_rows(site, node)
    except KeyError as exc:
        typer.echo(f"error: {exc.args[0]}", err=True)
        raise typer.Exit(2) from None
    typer.echo(RENDERERS[fmt](rows), nl=False)


@app.command("sim")
def sim(
    scenario: Annotated[Path, typer.Argument(help="scenario TOML (scenarios/*.toml)")],
    out: Annotated[
        Path | None, typer.Option(help="where series.csv, events.csv, summary.json go")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="write the PNG charts into this directory")
    ] = None,
    full_wire: Annotated[
        bool, typer.Option("--full-wire", help="seal and open every datagram with the real wire")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="replace the scenario's seed")] = None,
    duration: Annotated[
        float | None, typer.Option(help="replace the scenario's duration (virtual s)")
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="freedm or adaptive: replace the scenario's mode")
    ] = None,
) -> None:
    """Run a scenario in virtual time: the real cores, the simulators' plant, a seeded network."""
    from controller.cli.sim_cmd import run_sim

    chosen: Literal["freedm", "adaptive"] | None = None
    if mode == "freedm":
        chosen = "freedm"
    elif mode == "adaptive":
        chosen = "adaptive"
    elif mode is not None:
        raise typer.BadParameter("must be freedm or adaptive", param_hint="--mode")
    code = run_sim(
        scenario, out=out, plot=plot, full_wire=full_wire, seed=seed, duration_s=duration,
        mode=chosen,
    )  # fmt: skip
    raise typer.Exit(code)


@app.command("import-freedm")
def import_freedm(
    cfg: Annotated[Path, typer.Option("--cfg", help="FREEDM's freedm.cfg")],
    adapters: Annotated[
        Path | None, typer.Option(help="adapter.xml (default: the cfg's adapter-config)")
    ] = None,
    devices: Annotated[
        Path | None, typer.Option(help="device.xml (default: the cfg's device-config)")
    ] = None,
    timings: Annotated[
        Path | None,
        typer.Option(help="timings.cfg (default: the cfg's timings-config or config/timings.cfg)"),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="site TOML to write (default: stdout)")] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing --out")] = False,
    node_port_base: Annotated[
        int, typer.Option(help="API port of the first node; the next nodes take the next ports")
    ] = API_PORT_BASE,
    local: Annotated[
        str | None,
        typer.Option(help="HOST:PORT: the DGI whose adapter.xml it is (default: the cfg's port)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="site name (default: freedm)")] = None,
) -> None:
    """Write a site for a FREEDM DGI configuration: nodes from add-host, rtds adapters and
    their devices, timings, migration step, malicious and invariant flags; print (and write
    at the top of the file) everything that is not carried over."""
    from controller.cli.import_freedm_cmd import Request
    from controller.cli.import_freedm_cmd import import_freedm as run_import

    host_port(local, "--local")  # refuses what is not HOST:PORT
    if not 1 <= node_port_base <= 65535:
        raise typer.BadParameter("must be 1..65535", param_hint="--node-port-base")
    request = Request(cfg, adapters, devices, timings, out, force, node_port_base, local, name)
    raise typer.Exit(run_import(request))


@app.command()
def audit(
    config: ConfigOption,
    baseline: Annotated[
        Path | None,
        typer.Option(help="JSON of node -> PStar to judge changes against (else: node starts)"),
    ] = None,
    save_baseline: Annotated[
        Path | None, typer.Option(help="read what every actuator holds, write it here, exit")
    ] = None,
    wait: Annotated[
        float, typer.Option(help="re-check every 0.5 s for up to this many seconds")
    ] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="print the audit as JSON")] = False,
) -> None:
    """Audit a running site: every node's belief against its device, and conservation."""
    from controller.cli.audit_cmd import audit as run_audit
    from controller.cli.audit_cmd import read_baseline, render, take_baseline
    from device_drivers.errors import DriverError

    setup_logging(0, quiet=True)
    site = load_or_exit(config)
    if save_baseline is not None:
        try:
            taken = asyncio.run(take_baseline(site))
        except DriverError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        save_baseline.write_text(json.dumps(taken, indent=2) + "\n", encoding="utf-8")
        typer.echo(f"{save_baseline}: baseline of {len(taken['nodes'])} node(s) written")
        return
    try:
        base = read_baseline(baseline) if baseline is not None else None
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--baseline") from None
    result = asyncio.run(run_audit(site, baseline=base, wait_s=wait))
    typer.echo(json.dumps(result.as_dict(), indent=2) if as_json else render(site, result))
    if not result.consistent:
        raise typer.Exit(1)


@app.command()
def loadtest(
    url: Annotated[
        str, typer.Option(help="the site's entry, http://HOST:PORT: requests go to {url}/charge")
    ],
    mode: Annotated[str, typer.Option(help="spaced, rush or sustained")] = "spaced",
    requests: Annotated[
        int | None, typer.Option(help="spaced: 30, rush: 500 (sustained sends rate × duration)")
    ] = None,
    gap: Annotated[
        tuple[float, float], typer.Option(help="spaced: MIN MAX seconds between requests")
    ] = (0.2, 1.0),
    rate: Annotated[float, typer.Option(help="sustained: requests per second")] = 100.0,
    duration: Annotated[float, typer.Option(help="sustained: seconds of load")] = 10.0,
    power_kw: Annotated[float | None, typer.Option(help="power_kw each request asks")] = None,
    duration_s: Annotated[
        float | None, typer.Option(help="duration_s each request asks (default: empty bodies)")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="spaced: the gaps' random seed")] = None,
    timeout: Annotated[float, typer.Option(help="seconds a request may take on the wire")] = 10.0,
    connections: Annotated[
        int, typer.Option(help="spaced, sustained: at most this many connections")
    ] = 256,
    substations: Annotated[
        str | None, typer.Option(help="A,B,C: substations to count even if they get nothing")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
    plot: Annotated[
        Path | None, typer.Option(help="draw active sessions per substation to this PNG")
    ] = None,
) -> None:
    """Fire EV charging requests at a site's entry: counts per substation, peak active
    sessions, throughput, latency, failures. Exit 0: all booked; 1: any failed; 3: only
    refusals (503 full)."""
    from controller.cli.loadtest_cmd import INTERRUPTED, Options, load_test, render
    from controller.cli.loadtest_cmd import plot as draw
    from controller.loadtest.plan import PlanError

    names = tuple(n.strip() for n in (substations or "").split(",") if n.strip())
    options = Options(url=url, mode=mode, requests=requests, gap_s=gap, rate_per_s=rate,
                      duration=duration, power_kw=power_kw, duration_s=duration_s, seed=seed,
                      timeout_s=timeout, connections=connections, substations=names)  # fmt: skip
    try:
        result = load_test(options)
    except PlanError as exc:
        raise typer.BadParameter(str(exc)) from None
    if result is None:
        typer.echo("interrupted", err=True)
        raise typer.Exit(INTERRUPTED)
    run, report = result
    typer.echo(json.dumps(report, indent=2) if as_json else render(report))
    if plot is not None:
        draw(run, report, plot, names)
        if not as_json:
            typer.echo(f"{plot}: active sessions per substation")
    raise typer.Exit(report["exit_status"])


ExistOk = Annotated[
    bool, typer.Option("--exist-ok", help="an existing file is kept and is not an error")
]


def refuse_existing(path: Path, exist_ok: bool) -> NoReturn:
    """A key or token is never overwritten (a running site depends on it)."""
    if exist_ok:
        typer.echo(f"{path} exists; kept")
        raise typer.Exit(0)
    typer.echo(f"error: {path} exists; not overwritten (--exist-ok keeps it)", err=True)
    raise typer.Exit(1)


@app.command()
def keygen(
    path: Annotated[Path, typer.Argument(help="key file to create (owner-only permissions)")],
    key_id: Annotated[str, typer.Option(help="the key id sent with every datagram")] = "group-1",
    exist_ok: ExistOk = False,
) -> None:
    """Create a group key file for a site's nodes."""
    from controller.peer.keys import write_key_file

    try:
        write_key_file(path, key_id)
    except FileExistsError:
        refuse_existing(path, exist_ok)
    typer.echo(f"{path}: new group key {key_id!r} (mode 600); copy it to every node of the site")


@app.command("api-token")
def api_token(
    path: Annotated[Path, typer.Argument(help="token file to create (owner-only permissions)")],
    exist_ok: ExistOk = False,
) -> None:
    """Create the bearer-token file that API writes need (the site's api_token_file)."""
    import os
    import secrets

    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        refuse_existing(path, exist_ok)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    typer.echo(f"{path}: new API token (mode 600); send it as 'Authorization: Bearer <token>'")


@app.command("prometheus-config")
def prometheus_config(
    config: Annotated[Path, typer.Argument(help="site file")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here, not to stdout")
    ] = None,
) -> None:
    """Prometheus scrape configuration for a site (5 s, one target per node)."""
    from controller.cli.monitoring_cmd import prometheus_config as render

    text = render(load_or_exit(config))
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def openapi(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here, not to stdout")
    ] = None,
) -> None:
    """The status API's OpenAPI document (docs/openapi.json is this, committed)."""
    from controller.cli.monitoring_cmd import openapi_text

    text = openapi_text()
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


from controller.cli import cosim_cmd  # noqa: E402  (its commands need the app; no helics)

cosim_cmd.register(app)

from controller.cli import config_ref_cmd  # noqa: E402

config_ref_cmd.register(app)


def main() -> None:
    app()
