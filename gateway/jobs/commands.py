"""`gateway jobs list` and `gateway jobs run NAME [--dry-run]`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gateway.core.settings import Settings
from gateway.core.times import beijing_text
from gateway.jobs.catalog import JOBS, schedule_of
from gateway.jobs.runner import JobContext, RunResult, run_job
from gateway.jobs.schedule import next_time
from gateway.services.dnc_list import DncList
from gateway.store.dnc_cache import DncCache
from gateway.store.keys import Keys
from gateway.store.postgres import create_pool
from gateway.store.redis import create_redis


async def list_jobs(settings: Settings) -> list[str]:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        now = datetime.now(UTC)
        lines = []
        for spec in JOBS.values():
            cron = schedule_of(spec, settings.schedules)
            last = await pool.fetchrow(
                "SELECT * FROM job_runs WHERE job = $1 ORDER BY started_at DESC LIMIT 1",
                spec.name,
            )
            upcoming = next_time(cron, now)
            lines.append(f"{spec.name:<18} {cron:<14} next {_at(upcoming)}  {spec.summary}")
            if last is None:
                lines.append(f"{'':<18} last run: never")
            else:
                counts = json.dumps(last["counts"], ensure_ascii=False) if last["counts"] else ""
                lines.append(
                    f"{'':<18} last run: {_at(last['scheduled_at'])} {last['outcome']}"
                    f"{' (dry run)' if last['dry_run'] else ''} {counts}"
                    f"{' ' + last['error'] if last['error'] else ''}"
                )
        return lines
    finally:
        await pool.close()


def _at(moment: datetime | None) -> str:
    """In Beijing time, as the schedules are."""
    return "-" if moment is None else beijing_text(moment)


async def run_now(settings: Settings, name: str, dry_run: bool) -> RunResult:
    spec = JOBS[name]
    pool = await create_pool(settings.database_url, min_size=1, max_size=3)
    redis = create_redis(settings.redis_url)
    try:
        dnc = DncList(pool, DncCache(redis, pool, Keys(settings.redis_prefix)))
        now = datetime.now(UTC)

        def context(dry: bool) -> JobContext:
            return JobContext(pool, redis, dnc, settings, now, dry)

        return await run_job(
            spec, context, pool, scheduled_at=now, trigger="manual", dry_run=dry_run
        )
    finally:
        await redis.aclose()
        await pool.close()
