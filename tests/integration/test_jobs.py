"""Scheduled jobs against real PostgreSQL: one run per scheduled time, outcomes stored."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from datetime import datetime
from typing import Any

import pytest

from gateway.appkeys import JOBS
from gateway.jobs.catalog import JOBS as CATALOG
from gateway.jobs.runner import Counts, JobContext, JobSpec, run_job
from tests.integration.tenant import e164, mobile
from tests.support.processes import run_cli


async def test_two_processes_firing_at_once_run_the_job_once(
    make_client: Any, settings: Any, clock: Any, db: Any
) -> None:
    first = await make_client(settings, clock)
    second = await make_client(settings, clock)
    spec = CATALOG["dnc-expiry"]
    fired = datetime.fromisoformat("2026-11-23T10:05:00.010+08:00")
    results = await asyncio.gather(
        first.server.app[JOBS].fire(spec, fired), second.server.app[JOBS].fire(spec, fired)
    )
    assert sorted(r.outcome for r in results) == ["claimed-elsewhere", "done"]
    rows = await db.fetch(
        "SELECT * FROM job_runs WHERE job = 'dnc-expiry' AND scheduled_at = $1",
        datetime.fromisoformat("2026-11-23T10:05:00+08:00"),
    )
    assert len(rows) == 1
    assert rows[0]["outcome"] == "done"
    assert rows[0]["finished_at"] is not None
    assert "ended" in rows[0]["counts"]


async def test_a_failing_job_is_recorded_with_its_error(client: Any, db: Any) -> None:
    async def broken(ctx: JobContext) -> Counts:
        raise RuntimeError("disk not mounted")

    spec = JobSpec("test-broken", "* * * * *", "fails", broken)
    jobs = client.server.app[JOBS]
    at = datetime.fromisoformat("2026-11-23T11:00:00+08:00")
    result = await run_job(spec, jobs.context, db_pool(client), scheduled_at=at)
    assert result.outcome == "failed"
    row = await db.fetchrow("SELECT * FROM job_runs WHERE job = 'test-broken'")
    assert row["outcome"] == "failed"
    assert "disk not mounted" in row["error"]


async def test_a_run_still_going_makes_the_next_one_skip(client: Any, db: Any) -> None:
    release = asyncio.Event()

    async def slow(ctx: JobContext) -> Counts:
        await release.wait()
        return {"ok": 1}

    spec = JobSpec("test-slow", "* * * * *", "slow", slow)
    jobs, pool = client.server.app[JOBS], db_pool(client)
    first = asyncio.create_task(
        run_job(
            spec, jobs.context, pool, scheduled_at=datetime.fromisoformat("2026-11-23T11:00:00Z")
        )
    )
    await asyncio.sleep(0.2)
    second = await run_job(
        spec, jobs.context, pool, scheduled_at=datetime.fromisoformat("2026-11-23T11:01:00Z")
    )
    assert second.outcome == "skipped"
    release.set()
    assert (await first).outcome == "done"


async def test_expiry_job_dry_run_counts_without_ending(client: Any, db: Any) -> None:
    number = e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by, expires_at) "
        "VALUES ($1, 'marketing', 'supervisor', 't', $2)",
        number,
        datetime.fromisoformat("2026-11-23T09:00:00+08:00"),
    )
    jobs = client.server.app[JOBS]
    dry = await run_job(
        CATALOG["dnc-expiry"],
        jobs.context,
        db_pool(client),
        scheduled_at=datetime.fromisoformat("2026-11-23T12:00:00Z"),
        trigger="manual",
        dry_run=True,
    )
    assert dry.counts["would_end"] >= 1
    assert await db.fetchval("SELECT ended_at FROM dnc_entries WHERE number = $1", number) is None
    done = await run_job(
        CATALOG["dnc-expiry"],
        jobs.context,
        db_pool(client),
        scheduled_at=datetime.fromisoformat("2026-11-23T12:01:00Z"),
    )
    assert done.counts["ended"] >= 1
    reason = await db.fetchval("SELECT end_reason FROM dnc_entries WHERE number = $1", number)
    assert reason == "expired"


async def test_jobs_list_and_run_from_the_command_line(settings: Any) -> None:
    code, out, err = await run_cli(settings, "jobs", "run", "dnc-cache-check")
    assert code == 0, err
    assert "dnc-cache-check: done" in out
    code, out, _ = await run_cli(settings, "jobs", "list")
    assert code == 0
    assert "dnc-expiry" in out and "dnc-cache-check" in out
    assert "last run:" in out and "done" in out
    code, _, err = await run_cli(settings, "jobs", "run", "no-such-job")
    assert code == 2
    assert "no job" in err


def db_pool(client: Any) -> Any:
    from gateway.appkeys import PG

    return client.server.app[PG]


async def test_jobs_list_shows_times_in_beijing_time(settings: Any) -> None:
    code, out, _ = await run_cli(settings, "jobs", "list")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("dnc-expiry "))
    assert re.search(r" next \d{4}-\d\d-\d\dT\d\d:\d\d:00\+08:00 ", line), line


@pytest.mark.parametrize(
    ("counts", "level"),
    [
        ({"ended": 0, "changes_forgotten": 0}, logging.DEBUG),
        ({"ended": 3, "changes_forgotten": 0}, logging.INFO),
        ({"ended": 0, "changes_forgotten": 12}, logging.INFO),
    ],
)
async def test_a_quiet_job_logs_at_info_only_when_it_changed_something(
    client: Any, caplog: pytest.LogCaptureFixture, counts: Counts, level: int
) -> None:
    async def run(ctx: JobContext) -> Counts:
        return counts

    spec = JobSpec(
        name=f"quiet-{secrets.token_hex(3)}",
        cron="* * * * *",
        summary="t",
        run=run,
        quiet_when_idle=True,
    )
    jobs = client.server.app[JOBS]
    with caplog.at_level(logging.DEBUG, logger="gateway.jobs"):
        result = await run_job(
            spec,
            jobs.context,
            db_pool(client),
            scheduled_at=datetime.fromisoformat("2026-11-23T12:00:00Z"),
        )
    assert result.outcome == "done"
    done = [r for r in caplog.records if r.getMessage() == "job done"]
    assert [r.levelno for r in done] == [level]
    assert CATALOG["dnc-expiry"].quiet_when_idle
