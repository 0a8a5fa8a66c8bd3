"""Keeping the do-not-call cache true to PostgreSQL: ending expired entries, and a check
that compares every cached bucket with the database and repairs what differs."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.store import audit
from gateway.store.dnc_cache import DncCache, cache_value
from gateway.types import Conn

log = logging.getLogger("gateway.dnc")

_ACTIVE = "ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())"


async def expire_entries(
    pool: asyncpg.Pool, cache: DncCache, now: datetime, batch: int = 10_000
) -> int:
    """End the entries whose expiry has passed (checks already ignore them) and take them
    out of the cache. Returns how many were ended."""
    total = 0
    while True:
        async with pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE dnc_entries SET ended_at = expires_at, ended_by = 'system', "
                "end_reason = 'expired' WHERE id IN (SELECT id FROM dnc_entries "
                "WHERE ended_at IS NULL AND expires_at <= $2 LIMIT $1) RETURNING number",
                batch,
                now,
            )
            if rows:
                await audit.record(
                    conn, actor="system", action="expire", entity="dnc", after={"ended": len(rows)}
                )
        if not rows:
            return total
        await cache.apply_many((r["number"], None, None) for r in rows)
        total += len(rows)


@dataclass
class CheckReport:
    buckets: int = 0
    entries: int = 0
    repaired: int = 0
    skipped: bool = False


async def check_cache(pool: asyncpg.Pool, cache: DncCache, chunk: int = 256) -> CheckReport:
    """Compare the live generation bucket by bucket with PostgreSQL (rows come sorted by
    bucket, so memory holds one chunk of buckets); numbers that differ are read again
    from PostgreSQL and written as they are there now."""
    report = CheckReport()
    gen = await cache.live()
    if gen is None:
        report.skipped = True  # the watchdog is rebuilding it from scratch
        return report
    differing: list[int] = []
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        rows = conn.cursor(
            "SELECT substr(number, 2)::bigint AS n, scope, expires_at FROM dnc_entries "
            f"WHERE {_ACTIVE} ORDER BY substr(number, 2)::bigint % $1",
            gen.buckets,
            prefetch=20_000,
        ).__aiter__()
        ahead = await anext(rows, None)
        for start in range(0, gen.buckets, chunk):
            end = min(start + chunk, gen.buckets)
            expected: dict[int, dict[bytes, bytes]] = {}
            while ahead is not None and ahead["n"] % gen.buckets < end:
                n = ahead["n"]
                expected.setdefault(n % gen.buckets, {})[str(n // gen.buckets).encode()] = (
                    cache_value(ahead["scope"], ahead["expires_at"]).encode()
                )
                report.entries += 1
                ahead = await anext(rows, None)
            buckets = range(start, end)
            held_all = await cache.read_buckets(gen, buckets)
            for bucket, held in zip(buckets, held_all, strict=True):
                want = expected.get(bucket, {})
                if held == want:
                    continue
                for field in want.keys() | held.keys():
                    if want.get(field) != held.get(field):
                        differing.append(int(field) * gen.buckets + bucket)
            report.buckets += len(buckets)
    if differing:
        async with pool.acquire() as conn:
            report.repaired = await _repair(conn, cache, differing)
        log.warning("dnc cache drift repaired", extra={"fields": {"numbers": report.repaired}})
    return report


async def _repair(conn: Conn, cache: DncCache, numbers: list[int]) -> int:
    e164s = [f"+{n}" for n in numbers]
    rows = await conn.fetch(
        f"SELECT number, scope, expires_at FROM dnc_entries WHERE number = ANY($1) AND {_ACTIVE}",
        e164s,
    )
    now_listed = {r["number"]: r for r in rows}
    await cache.apply_many(
        (e, now_listed[e]["scope"], now_listed[e]["expires_at"])
        if e in now_listed
        else (e, None, None)
        for e in e164s
    )
    return len(e164s)
