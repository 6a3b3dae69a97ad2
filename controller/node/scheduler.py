"""The phase cycle on APScheduler (the only module that uses it).

One interval job per phase start and per LB round, each repeating every cycle and starting at
the first wall-clock multiple of the cycle length, so all nodes share the grid. The LB phase
job also runs round 0, so the phase begins before its first round. Jobs are coalesced and
never run twice at once; a job that could not run in time is counted as an overrun.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from controller.core.phases import PhasePlan

log = logging.getLogger(__name__)

PhaseCallback = Callable[[str], Awaitable[None]]
RoundCallback = Callable[[int], Awaitable[None]]


class PhaseScheduler:
    def __init__(
        self,
        plan: PhasePlan,
        on_phase: PhaseCallback,
        on_round: RoundCallback,
        *,
        clock: Callable[[], float] = time.time,
        on_overrun: Callable[[], None] | None = None,
    ) -> None:
        self.plan = plan
        self.on_phase = on_phase
        self.on_round = on_round
        self.clock = clock
        self.on_overrun = on_overrun
        self.missed = 0
        self.first_cycle: float | None = None
        self._scheduler: AsyncIOScheduler | None = None
        self._running: set[asyncio.Task[Any]] = set()

    def start(self) -> float:
        """Schedule the cycle from the next wall-clock multiple of its length; return that time."""
        scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 1},
        )
        start = self.plan.next_cycle(self.clock() + 0.05)  # a moment to set up
        self.first_cycle = start
        for event in self.plan.offsets():
            if event.kind == "round" and event.index == 0:
                continue  # run by the LB phase job
            trigger = IntervalTrigger(
                seconds=self.plan.cycle_s,
                start_date=datetime.fromtimestamp(start + event.at, UTC),
                timezone=UTC,
            )
            scheduler.add_job(
                self._run,
                trigger=trigger,
                args=[event.kind, event.index],
                id=f"{event.kind}-{event.index}",
            )
        scheduler.add_listener(self._missed, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
        scheduler.start()
        self._scheduler = scheduler
        return start

    async def _run(self, kind: str, index: int) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            if kind == "round":
                await self.on_round(index)
                return
            await self.on_phase(kind)
            if kind == "lb":
                await self.on_round(0)
        except asyncio.CancelledError:
            if self._scheduler is not None:
                raise
            # cancelled by shutdown after stop's grace time: a warning, not a traceback
            log.warning("%s job %d was still running at shutdown; cancelled", kind, index)
        finally:
            if task is not None:
                self._running.discard(task)

    def _missed(self, event: JobExecutionEvent) -> None:
        self.missed += 1
        if self.on_overrun is not None:
            self.on_overrun()
        log.warning("phase job %s did not run on time (overrun)", event.job_id)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """No new phase or round starts; those under way — one that was just handed to the
        event loop included — finish (for up to ``timeout_s``); then shut down. APScheduler
        would cancel a job still running, in the middle of its device reads."""
        if self._scheduler is None:
            return
        self._scheduler.remove_all_jobs()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await asyncio.sleep(0)  # a job submitted just before starts now, and registers
        while self._running and loop.time() < deadline:
            await asyncio.wait(set(self._running), timeout=deadline - loop.time())
            await asyncio.sleep(0)
        self.shutdown()

    def shutdown(self) -> None:
        """Shut APScheduler down (it cancels jobs still running); idempotent."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.remove_all_jobs()
            scheduler.shutdown(wait=False)
            for task in self._running:
                task.cancel()
