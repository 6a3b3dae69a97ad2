"""A load-test plan carried out against the charge entry: every request's outcome, recorded.

``rush`` opens one connection per request first (at most ``OPENING`` connects in flight, so a
listen backlog is not overrun), then writes every request in one pass with no await between
them — the release — and reads the answers; latency runs from the release. ``spaced`` and
``sustained`` send each request at its offset through a bounded :class:`Pool` (a request
that finds every connection busy waits for one, and that wait is part of its latency: the
load is open loop). Times are ``time.perf_counter`` seconds from the run's start. The run
also notes the CPU time this process spent meanwhile: near the elapsed time, the figures are
the load generator's rather than the server's.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from controller.loadtest.client import Connection, HttpError, Pool, Response, Target
from controller.loadtest.plan import Plan
from controller.loadtest.stats import Booking, Outcome

OPENING = 64  # connects in flight while a rush opens its connections


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """No full garbage collection while a run measures: one scans every object of the
    process (the outcomes recorded so far among them) and stopped the event loop for 40–90 ms,
    which the answers due meanwhile would show as the server's latency. Young objects are
    still collected; the objects there before the run are set aside (``gc.freeze``)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(thresholds[0], thresholds[1], 1 << 30)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@dataclass
class Run:
    """What a run recorded; ``errors`` keeps the first message of each kind of error."""

    outcomes: list[Outcome]
    started_unix: float
    released_s: float | None = None  # rush: time to put every request on the wire
    errors: dict[str, str] = field(default_factory=dict)
    cpu_s: float = 0.0  # this process's CPU time over the measured part (a rush: from release)

    def note(self, exc: HttpError) -> str:
        self.errors.setdefault(exc.kind, str(exc))
        return exc.kind


def outcome_of(response: Response, scheduled_s: float, done_s: float) -> Outcome:
    """An answer as an outcome: a 201's booking, a 503's ``Retry-After`` (seconds)."""
    if response.status == 503:
        retry = response.headers.get("retry-after", "")
        seconds = float(retry) if retry.isascii() and retry.isdigit() else None
        return Outcome(scheduled_s, done_s, 503, retry_after_s=seconds)
    if response.status != 201:
        return Outcome(scheduled_s, done_s, response.status)
    try:
        answer = json.loads(response.body)
        booking = Booking(
            str(answer["substation"]), float(answer["started"]), float(answer["expected_end"])
        )
    except (ValueError, KeyError, TypeError):
        return Outcome(scheduled_s, done_s, 201, error="201 without substation/started/end")
    return Outcome(scheduled_s, done_s, 201, booking=booking)


async def run_plan(
    plan: Plan, target: Target, body: bytes, *, timeout_s: float, connections: int
) -> Run:
    """Carry ``plan`` out: ``connections`` bounds the pool of spaced and sustained runs."""
    request = target.post(body)
    run = Run([], time.time())
    with no_full_collections():
        if plan.mode == "rush":
            await _rush(run, plan, target, request, timeout_s)
        else:
            await _scheduled(run, plan, Pool(target, connections, timeout_s), request)
    return run


async def _rush(run: Run, plan: Plan, target: Target, request: bytes, timeout_s: float) -> None:
    conns = [Connection(target, timeout_s) for _ in plan.offsets_s]
    gate = asyncio.Semaphore(OPENING)

    async def opened(conn: Connection) -> Connection | None:
        async with gate:
            try:
                await conn.open()
            except HttpError as exc:
                run.outcomes.append(Outcome(0.0, 0.0, error=run.note(exc)))
                return None
            return conn

    async def answer(conn: Connection, t0: float) -> Outcome:
        try:
            response = await conn.read_answer()
        except HttpError as exc:
            return Outcome(0.0, time.perf_counter() - t0, error=run.note(exc))
        return outcome_of(response, 0.0, time.perf_counter() - t0)

    try:
        ready = [c for c in await asyncio.gather(*map(opened, conns)) if c is not None]
        cpu, t0 = time.process_time(), time.perf_counter()
        run.started_unix = time.time()
        for conn in ready:
            conn.write(request)
        run.released_s = time.perf_counter() - t0
        run.outcomes += await asyncio.gather(*(answer(conn, t0) for conn in ready))
        run.cpu_s = time.process_time() - cpu
    finally:
        await asyncio.gather(*(conn.close() for conn in conns))


async def _scheduled(run: Run, plan: Plan, pool: Pool, request: bytes) -> None:
    async def one(offset: float, t0: float) -> Outcome:
        try:
            response = await pool.send(request)
        except HttpError as exc:
            return Outcome(offset, time.perf_counter() - t0, error=run.note(exc))
        return outcome_of(response, offset, time.perf_counter() - t0)

    cpu = time.process_time()
    async with pool, asyncio.TaskGroup() as group:
        t0 = time.perf_counter()
        tasks = []
        for offset in plan.offsets_s:
            # always yield, also when behind: the answers keep being read meanwhile
            await asyncio.sleep(max(0.0, t0 + offset - time.perf_counter()))
            tasks.append(group.create_task(one(offset, t0)))
    run.cpu_s = time.process_time() - cpu
    run.outcomes += [task.result() for task in tasks]
