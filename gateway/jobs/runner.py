"""Running one job: claim the run, take the job's lock, record the outcome."""

from __future__ import annotations

import hashlib
import logging
import socket
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from redis.asyncio import Redis

from gateway.core import metrics
from gateway.core.settings import Settings
from gateway.services.dnc_list import DncList

log = logging.getLogger("gateway.jobs")

Counts = dict[str, Any]


@dataclass(frozen=True)
class JobContext:
    pool: asyncpg.Pool
    redis: Redis
    dnc: DncList
    settings: Settings
    now: datetime
    dry_run: bool = False


@dataclass(frozen=True)
class JobSpec:
    name: str
    cron: str  # default schedule, Beijing time; settings may replace it
    summary: str
    run: Callable[[JobContext], Awaitable[Counts]]
    # A job that runs often and mostly finds nothing to do logs a run that changed
    # nothing at DEBUG, so that its INFO lines are the runs that did something.
    quiet_when_idle: bool = False


def changed_something(counts: Counts) -> bool:
    """Whether a run's counts show it did something: a count above zero."""
    return any(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in counts.values())


@dataclass(frozen=True)
class RunResult:
    job: str
    scheduled_at: datetime
    outcome: str  # done | failed | skipped | claimed-elsewhere
    counts: Counts
    error: str | None = None


def lock_key(job: str) -> int:
    """A stable 63-bit advisory lock key for a job name."""
    return int.from_bytes(hashlib.sha256(f"gateway-job:{job}".encode()).digest()[:8], "big") >> 1


async def run_job(
    spec: JobSpec,
    make_context: Callable[[bool], JobContext],
    pool: asyncpg.Pool,
    *,
    scheduled_at: datetime,
    trigger: str = "schedule",
    dry_run: bool = False,
) -> RunResult:
    host = socket.gethostname()
    async with pool.acquire() as conn:
        claimed = await conn.fetchval(
            "INSERT INTO job_runs (job, scheduled_at, trigger, dry_run, host) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING true",
            spec.name,
            scheduled_at,
            trigger,
            dry_run,
            host,
        )
        if not claimed:
            return RunResult(spec.name, scheduled_at, "claimed-elsewhere", {})
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_key(spec.name)):
            await _finish(
                conn,
                spec.name,
                scheduled_at,
                "skipped",
                {},
                "an earlier run of this job is still going",
            )
            metrics.JOB_RUNS.labels(spec.name, "skipped").inc()
            return RunResult(spec.name, scheduled_at, "skipped", {})
        try:
            try:
                counts = await spec.run(make_context(dry_run))
            except Exception as e:
                error = f"{type(e).__name__}: {e}"
                log.error(
                    "job failed",
                    extra={
                        "fields": {
                            "job": spec.name,
                            "error": error,
                            "trace": traceback.format_exc(),
                        }
                    },
                )
                await _finish(conn, spec.name, scheduled_at, "failed", {}, error)
                metrics.JOB_RUNS.labels(spec.name, "failed").inc()
                return RunResult(spec.name, scheduled_at, "failed", {}, error)
            await _finish(conn, spec.name, scheduled_at, "done", counts, None)
            metrics.JOB_RUNS.labels(spec.name, "done").inc()
            level = (
                logging.DEBUG
                if spec.quiet_when_idle and not changed_something(counts)
                else logging.INFO
            )
            log.log(level, "job done", extra={"fields": {"job": spec.name, "counts": counts}})
            return RunResult(spec.name, scheduled_at, "done", counts)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", lock_key(spec.name))


async def _finish(
    conn: Any,
    job: str,
    scheduled_at: datetime,
    outcome: str,
    counts: Mapping[str, Any],
    error: str | None,
) -> None:
    await conn.execute(
        "UPDATE job_runs SET finished_at = $3, outcome = $4, counts = $5, error = $6 "
        "WHERE job = $1 AND scheduled_at = $2",
        job,
        scheduled_at,
        datetime.now(UTC),
        outcome,
        dict(counts),
        error,
    )
