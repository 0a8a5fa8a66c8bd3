"""Expiry and the cache check, run directly against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from gateway.appkeys import DNC, PG, REDIS
from gateway.dnc_upkeep import check_cache, expire_entries
from gateway.store.dnc_cache import cache_value, digits
from tests.integration.tenant import e164, mobile


async def test_expired_entries_are_ended_and_leave_the_cache(client: Any, db: Any) -> None:
    app = client.server.app
    number = e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by, expires_at) "
        "VALUES ($1, 'marketing', 'supervisor', 't', now() - interval '1 minute')",
        number,
    )
    await app[DNC].apply(number, "marketing")
    assert await expire_entries(app[PG], app[DNC], datetime.now(UTC)) >= 1
    row = await db.fetchrow("SELECT * FROM dnc_entries WHERE number = $1", number)
    assert row["end_reason"] == "expired"
    assert row["ended_by"] == "system"
    assert row["ended_at"] == row["expires_at"]
    gen = await app[DNC].live()
    n = digits(number)
    held = await app[REDIS].hget(
        app[DNC]._keys.dnc_bucket(gen.number, n % gen.buckets), str(n // gen.buckets)
    )
    assert held is None


async def test_cache_check_repairs_drift_both_ways(client: Any, db: Any) -> None:
    app = client.server.app
    listed, stray = e164(mobile()), e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by) "
        "VALUES ($1, 'all', 'supervisor', 't')",
        listed,
    )
    gen = await app[DNC].live()
    redis, keys = app[REDIS], app[DNC]._keys

    def where(number: str) -> tuple[str, str]:
        n = digits(number)
        return keys.dnc_bucket(gen.number, n % gen.buckets), str(n // gen.buckets)

    # The listed number is missing from the cache; an unlisted one is in it.
    await redis.hdel(*where(listed))
    await redis.hset(*where(stray), cache_value("marketing", None))
    report = await check_cache(app[PG], app[DNC])
    assert report.repaired == 2
    assert report.entries >= 1
    assert await redis.hget(*where(listed)) == b"a"
    assert await redis.hget(*where(stray)) is None
    again = await check_cache(app[PG], app[DNC])
    assert again.repaired == 0


async def test_a_large_import_grows_the_buckets_first(client: Any, db: Any) -> None:
    app = client.server.app
    listed = e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by) "
        "VALUES ($1, 'marketing', 'supervisor', 't')",
        listed,
    )
    before = await app[DNC].live()
    await app[DNC].ensure_capacity(before.buckets * 48 * 4)
    after = await app[DNC].live()
    assert after.buckets >= before.buckets * 4
    assert after.number != before.number
    n = digits(listed)
    held = await app[REDIS].hget(
        app[DNC]._keys.dnc_bucket(after.number, n % after.buckets), str(n // after.buckets)
    )
    assert held == b"m"
    # Within capacity: nothing is rebuilt.
    await app[DNC].ensure_capacity(after.buckets)
    assert (await app[DNC].live()).number == after.number


async def test_the_watchdog_stops_when_a_cancellation_is_swallowed(
    client: Any, monkeypatch: Any
) -> None:
    """Shutting down must not hang when the cancellation reaches the watchdog inside a
    call that swallows it (Python 3.11's asyncio.wait_for can, inside asyncpg and
    redis-py)."""
    cache = client.server.app[DNC]
    await cache.stop_watchdog()
    entered = asyncio.Event()

    async def swallowing_ensure() -> None:
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)

    monkeypatch.setattr(cache, "ensure", swallowing_ensure)
    cache.start_watchdog(interval=0.01)
    await asyncio.wait_for(entered.wait(), timeout=5)
    await asyncio.wait_for(cache.stop_watchdog(), timeout=5)
    monkeypatch.undo()
    cache.start_watchdog()
