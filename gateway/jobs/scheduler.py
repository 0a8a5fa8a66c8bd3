"""The scheduler inside `gateway serve`: apscheduler fires each job on its cron schedule
in every process; the run itself is claimed by one process (see runner)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from redis.asyncio import Redis

from gateway.core.settings import Settings
from gateway.jobs.catalog import JOBS, schedule_of
from gateway.jobs.runner import JobContext, JobSpec, RunResult, run_job
from gateway.jobs.schedule import TIMEZONE, scheduled_time, trigger
from gateway.services.dnc_list import DncList

log = logging.getLogger("gateway.jobs")


class JobScheduler:
    def __init__(
        self,
        pool: asyncpg.Pool,
        redis: Redis,
        dnc: DncList,
        settings: Settings,
        clock: Callable[[], datetime],
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._dnc = dnc
        self._settings = settings
        self._clock = clock
        self._scheduler: AsyncIOScheduler | None = None

    def context(self, dry_run: bool) -> JobContext:
        return JobContext(
            self._pool, self._redis, self._dnc, self._settings, self._clock(), dry_run
        )

    async def fire(self, spec: JobSpec, fired_at: datetime | None = None) -> RunResult:
        """What the scheduler calls at each fire time."""
        cron = schedule_of(spec, self._settings.schedules)
        at = scheduled_time(cron, fired_at or self._clock())
        return await run_job(spec, self.context, self._pool, scheduled_at=at)

    def start(self) -> None:
        scheduler = AsyncIOScheduler(timezone=TIMEZONE)
        for spec in JOBS.values():
            scheduler.add_job(
                self.fire,
                trigger(schedule_of(spec, self._settings.schedules)),
                args=[spec],
                id=spec.name,
                name=spec.summary,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=30,
            )
        scheduler.start()
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
            self._scheduler = None
