"""Do-not-call upkeep jobs."""

from __future__ import annotations

from gateway.jobs.runner import Counts, JobContext, JobSpec
from gateway.services.dnc_upkeep import check_cache, expire_entries, forget_changes


async def _expire(ctx: JobContext) -> Counts:
    if ctx.dry_run:
        due = await ctx.pool.fetchval(
            "SELECT count(*) FROM dnc_entries WHERE ended_at IS NULL AND expires_at <= $1",
            ctx.now,
        )
        return {"would_end": due}
    return {
        "ended": await expire_entries(ctx.pool, ctx.dnc, ctx.now),
        "changes_forgotten": await forget_changes(ctx.pool, ctx.now),
    }


async def _check(ctx: JobContext) -> Counts:
    if ctx.dry_run:
        return {"skipped": "the check repairs as it goes; run it without --dry-run"}
    report = await check_cache(ctx.pool, ctx.dnc)
    return {
        "buckets": report.buckets,
        "entries": report.entries,
        "repaired": report.repaired,
        "skipped": report.skipped,
    }


DNC_EXPIRY = JobSpec(
    name="dnc-expiry",
    cron="* * * * *",
    run=_expire,
    summary="end temporary do-not-call entries whose expiry has passed; tidy the cache",
    quiet_when_idle=True,
)
DNC_CACHE_CHECK = JobSpec(
    name="dnc-cache-check",
    cron="17 * * * *",
    run=_check,
    summary="compare the Redis do-not-call cache with PostgreSQL and repair any drift",
)
