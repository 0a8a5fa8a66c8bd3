"""Keeping the do-not-call cache true to PostgreSQL: ending expired entries, forgetting
old numbered changes, and a check that compares every cached bucket with the database and
repairs what differs. Each of these writes to the cache is a numbered change too, so it
takes its place in the order of changes and cannot undo a later one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from gateway.core.aliases import Conn
from gateway.services.dnc_list import DncList
from gateway.store import audit, dnc_changes
from gateway.store.dnc_changes import cache_line, cache_value

log = logging.getLogger("gateway.dnc")

_ACTIVE = "ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())"


# Changes are kept this long for caches that fell behind; one further behind is rebuilt.
KEEP_CHANGES = timedelta(days=2)


async def expire_entries(
    pool: asyncpg.Pool, dnc: DncList, now: datetime, batch: int = 10_000
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
                lines = "".join(cache_line(r["number"], None) for r in rows)
                seq = await dnc_changes.record(conn, "expire", lines, len(rows))
        if not rows:
            return total
        await dnc.publish(seq, lines)
        total += len(rows)


async def forget_changes(pool: asyncpg.Pool, now: datetime) -> int:
    """Remove numbered changes older than KEEP_CHANGES. Returns how many."""
    removed = 0
    while True:
        gone = await dnc_changes.prune(pool, now - KEEP_CHANGES)
        removed += gone
        if gone == 0:
            return removed


@dataclass
class CheckReport:
    buckets: int = 0
    entries: int = 0
    repaired: int = 0
    skipped: bool = False


async def check_cache(pool: asyncpg.Pool, dnc: DncList, chunk: int = 256) -> CheckReport:
    """Compare the live generation bucket by bucket with PostgreSQL (rows come sorted by
    bucket, so memory holds one chunk of buckets); numbers that differ are read again
    from PostgreSQL and written as they are there now."""
    report = CheckReport()
    cache = dnc.cache
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
            report.repaired = await _repair(conn, dnc, differing)
        log.warning("dnc cache drift repaired", extra={"fields": {"numbers": report.repaired}})
    return report


async def _repair(conn: Conn, dnc: DncList, numbers: list[int]) -> int:
    """Write the numbers as PostgreSQL has them now, as a numbered change: read under the
    change counter's lock, so no other change comes between the reading and the number."""
    e164s = [f"+{n}" for n in numbers]
    async with conn.transaction():
        seq = await dnc_changes.take_number(conn)
        rows = await conn.fetch(
            "SELECT number, scope, expires_at FROM dnc_entries "
            f"WHERE number = ANY($1) AND {_ACTIVE}",
            e164s,
        )
        now_listed = {r["number"]: r for r in rows}
        lines = "".join(
            cache_line(e, now_listed[e]["scope"], now_listed[e]["expires_at"])
            if e in now_listed
            else cache_line(e, None)
            for e in e164s
        )
        await dnc_changes.store_numbered(conn, seq, "repair", lines, len(e164s))
    await dnc.publish(seq, lines)
    return len(e164s)
