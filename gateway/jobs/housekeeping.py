"""Housekeeping: results of old scrub jobs are removed after a week."""

from __future__ import annotations

from datetime import timedelta

from gateway.jobs.runner import Counts, JobContext, JobSpec

SCRUB_RESULTS_KEPT = timedelta(days=7)


async def run_scrub_cleanup(ctx: JobContext) -> Counts:
    cutoff = ctx.now - SCRUB_RESULTS_KEPT
    if ctx.dry_run:
        due = await ctx.pool.fetchval(
            "SELECT count(*) FROM scrub_jobs WHERE created_at < $1", cutoff
        )
        return {"would_remove": due}
    removed = await ctx.pool.fetchval(
        "WITH gone AS (DELETE FROM scrub_jobs WHERE created_at < $1 RETURNING 1) "
        "SELECT count(*) FROM gone",
        cutoff,
    )
    return {"removed": removed}


SCRUB_CLEANUP = JobSpec(
    name="scrub-cleanup",
    cron="40 4 * * *",
    run=run_scrub_cleanup,
    summary="remove scrub jobs and their results after seven days",
)
