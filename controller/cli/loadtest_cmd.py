"""``dgi loadtest``: fire charging requests at a site's entry and sum up how it took them.

The plan (``controller.loadtest.plan``) is carried out by ``controller.loadtest.runner`` and
summed up by ``controller.loadtest.stats``; this module builds the plan from the options,
prints the summary (text, or JSON with ``--json``), draws ``--plot`` and gives the exit
status (:func:`controller.loadtest.stats.exit_status`; 130 when interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.loadtest import plan as plans
from controller.loadtest.client import Target
from controller.loadtest.runner import Run, run_plan
from controller.loadtest.stats import active_series, exit_status, summarize

ENDPOINT = "/charge"
INTERRUPTED = 130
BUSY = 0.9  # client CPU time / elapsed time above which the figures are the client's


@dataclass(frozen=True)
class Options:
    url: str
    mode: str = "spaced"
    requests: int | None = None
    gap_s: tuple[float, float] = plans.DEFAULT_GAP_S
    rate_per_s: float = 100.0
    duration: float = 10.0
    power_kw: float | None = None
    duration_s: float | None = None
    seed: int | None = None
    timeout_s: float = 10.0
    connections: int = 256
    substations: tuple[str, ...] = ()


def build_plan(options: Options, seed: int) -> plans.Plan:
    """The plan the options ask for; :class:`~controller.loadtest.plan.PlanError` names the
    option that is wrong."""
    if options.mode not in plans.MODES:
        raise plans.PlanError(f"--mode {options.mode}: one of {', '.join(plans.MODES)}")
    if options.mode == "sustained":
        if options.requests is not None:
            raise plans.PlanError("--requests: sustained sends --rate × --duration requests")
        return plans.sustained(options.rate_per_s, options.duration)
    requests = options.requests or plans.DEFAULT_REQUESTS[options.mode]
    if options.mode == "rush":
        return plans.rush(requests)
    return plans.spaced(requests, options.gap_s, random.Random(seed))


def check(options: Options) -> None:
    if not options.timeout_s > 0.0:
        raise plans.PlanError(f"--timeout {options.timeout_s:g}: must be more than 0 s")
    if options.connections < 1:
        raise plans.PlanError(f"--connections {options.connections}: must be at least 1")


async def interruptible(work: asyncio.Future[Run]) -> Run | None:
    """``work``'s result, or None when Ctrl-C / SIGTERM came first (the run is cancelled)."""
    from controller.cli.lifecycle import stoppable, wait_for_stop

    async def race() -> Run | None:
        stop = asyncio.ensure_future(wait_for_stop(None))
        either: list[asyncio.Future[Any]] = [work, stop]
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if work.done():
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work
        return None

    return await stoppable(race())


def load_test(options: Options) -> tuple[Run, dict[str, Any]] | None:
    """Run the load test: its record and report (``--json``); None when interrupted."""
    check(options)
    try:
        target = Target.parse(options.url, endpoint=ENDPOINT)
    except ValueError as exc:
        raise plans.PlanError(f"--url {exc}") from None
    seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**32)
    plan = build_plan(options, seed)
    body = plans.charge_body(options.power_kw, options.duration_s)

    async def main() -> Run | None:
        work = run_plan(
            plan, target, body, timeout_s=options.timeout_s, connections=options.connections
        )
        return await interruptible(asyncio.ensure_future(work))

    run = asyncio.run(main())
    if run is None:
        return None
    summary = summarize(run.outcomes, options.substations)
    report = {
        "mode": plan.mode,
        "url": f"http://{target.address}{target.path}",
        "seed": seed if plan.mode == "spaced" else None,
        "offered_per_s": options.rate_per_s if plan.mode == "sustained" else None,
        "released_ms": None if run.released_s is None else run.released_s * 1000.0,
        "client_cpu_s": run.cpu_s,
        **summary.as_dict(),
        "error_messages": run.errors,
        "exit_status": exit_status(summary),
    }
    return run, report


def render(report: dict[str, Any]) -> str:
    """The text summary of a report (what ``--json`` prints as JSON)."""
    lines = [_headline(report)]
    latency = report["latency_ms"]
    lines.append(
        f"answered {report['answered']} of {report['requests']} in {report['elapsed_s']:.3f} s: "
        f"{report['answered_per_s']:.0f} answers/s (client CPU {report['client_cpu_s']:.3f} s)"
    )
    if report["client_cpu_s"] >= BUSY * report["elapsed_s"] > 0.0:
        lines.append(
            "warning: this client was busy nearly all the run: its figures, not the site's"
        )
    if latency:
        lines.append("latency ms   " + "   ".join(f"{k} {v:.1f}" for k, v in latency.items()))
    lines.append(f"booked {report['booked']} · full (503) {report['full']}{_retry(report)} · "
                 f"failed {report['failed']}")  # fmt: skip
    for status, count in report["statuses"].items():
        if status != "503":
            lines.append(f"  status {status}: {count}")
    for kind, count in report["errors"].items():
        example = report["error_messages"].get(kind)
        lines.append(f"  {kind}: {count}" + (f" ({example})" if example else ""))
    lines += _substations(report)
    return "\n".join(lines)


def _headline(report: dict[str, Any]) -> str:
    head = f"{report['mode']}: {report['requests']} requests to {report['url']}"
    if report["released_ms"] is not None:
        head += f", released together in {report['released_ms']:.1f} ms"
    if report["offered_per_s"] is not None:
        head += f", {report['offered_per_s']:g} offered/s"
    if report["seed"] is not None:
        head += f" (seed {report['seed']})"
    return head


def _retry(report: dict[str, Any]) -> str:
    values = report["retry_after_s"]
    text = f", Retry-After {'/'.join(f'{v:g}' for v in values)} s" if values else ""
    missing = report["full_without_retry_after"]
    return text + (f", {missing} without Retry-After" if missing else "")


def _substations(report: dict[str, Any]) -> list[str]:
    peaks = report["peak_active"]
    if not peaks:
        return ["no session booked"]
    lines = [f"{'substation':<16}{'booked':>8}{'peak active':>13}"]
    for name, peak in peaks.items():
        lines.append(f"{name:<16}{report['per_substation'].get(name, 0):>8}{peak:>13}")
    lines.append(
        f"max − min active sessions over {len(peaks)} substation(s), at any instant: "
        f"{report['max_spread']}"
    )
    return lines


def plot(run: Run, report: dict[str, Any], path: Path, substations: tuple[str, ...]) -> None:
    """``--plot``: active sessions per substation over the run, as a PNG at ``path``."""
    from controller.loadtest.plot import write_plot

    bookings = [o.booking for o in run.outcomes if o.booked and o.booking is not None]
    title = f"dgi loadtest {report['mode']}: {report['booked']} booked of {report['requests']}"
    starts = [b.started for b in bookings]
    write_plot(active_series(bookings, substations), starts, path, title=title)
