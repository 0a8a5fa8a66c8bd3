"""Expiry and the cache check, run directly against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway import dnc_cli
from gateway.appkeys import DNC, DNC_LIST, PG, REDIS
from gateway.core.errors import InvalidRequest
from gateway.dnc_cli import import_file
from gateway.services.dnc_upkeep import check_cache, expire_entries
from gateway.store import dnc_cache, dnc_import
from gateway.store.bulk import RebuildLost
from gateway.store.dnc_changes import cache_value
from gateway.store.dnc_import import _insert_batch, import_entries
from gateway.store.postgres import connect
from gateway.store.scripts import digits
from tests.integration.tenant import e164, mobile


async def test_expired_entries_are_ended_and_leave_the_cache(client: Any, db: Any) -> None:
    app = client.server.app
    number = e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by, expires_at) "
        "VALUES ($1, 'marketing', 'supervisor', 't', now() - interval '1 minute')",
        number,
    )
    gen = await app[DNC].live()
    n = digits(number)
    await app[REDIS].hset(
        app[DNC]._keys.dnc_bucket(gen.number, n % gen.buckets), str(n // gen.buckets), "m"
    )
    assert await expire_entries(app[PG], app[DNC_LIST], datetime.now(UTC)) >= 1
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
    report = await check_cache(app[PG], app[DNC_LIST])
    assert report.repaired == 2
    assert report.entries >= 1
    assert await redis.hget(*where(listed)) == b"a"
    assert await redis.hget(*where(stray)) is None
    again = await check_cache(app[PG], app[DNC_LIST])
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


async def list_many(db: Any, prefix: str, count: int) -> list[str]:
    """List about `count` random mobiles of a 3-digit prefix (marketing), straight into
    PostgreSQL; returns them sorted."""
    numbers = sorted({f"+86{prefix}{random.randrange(10**8):08d}" for _ in range(count)})
    await db.copy_records_to_table(
        "dnc_entries",
        records=[(n, "marketing", "import:t", "t") for n in numbers],
        columns=["number", "scope", "source", "created_by"],
    )
    return numbers


async def test_a_rebuild_holds_every_active_entry_as_a_change_writes_it(
    client: Any, db: Any
) -> None:
    app = client.server.app
    later = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    # Many chunks of the rebuild's stream; 147 is a prefix no other test draws from.
    bulk = await list_many(db, "147", 12_000)
    everyone, until_later, expired, ended = (e164(mobile()) for _ in range(4))
    await db.executemany(
        "INSERT INTO dnc_entries (number, scope, source, created_by, expires_at, ended_at) "
        "VALUES ($1, $2, 'supervisor', 't', $3, $4)",
        [
            (everyone, "all", None, None),
            (until_later, "marketing", later, None),
            (expired, "all", datetime(2020, 1, 1, tzinfo=UTC), None),
            (ended, "all", None, datetime(2021, 1, 1, tzinfo=UTC)),
        ],
    )
    cache = app[DNC]
    gen = await cache.rebuild()
    assert gen is not None and (await cache.live()) == gen
    pipe = app[REDIS].pipeline(transaction=False)
    for number in [*bulk, everyone, until_later, expired, ended]:
        n = digits(number)
        pipe.hget(cache._keys.dnc_bucket(gen.number, n % gen.buckets), str(n // gen.buckets))
    held = await pipe.execute()
    assert held[: len(bulk)] == [b"m"] * len(bulk)
    assert held[len(bulk) :] == [
        b"a",
        cache_value("marketing", later).encode(),
        None,
        None,
    ]


async def test_a_rebuild_whose_generation_vanishes_does_not_go_live(
    client: Any, db: Any, monkeypatch: Any
) -> None:
    app = client.server.app
    cache, redis = app[DNC], app[REDIS]
    listed = e164(mobile())
    await db.execute(
        "INSERT INTO dnc_entries (number, scope, source, created_by) "
        "VALUES ($1, 'all', 'supervisor', 't')",
        listed,
    )
    before = await cache.live()
    write = cache._change

    async def flushed_meanwhile(**kwargs: Any) -> Any:
        await redis.delete(cache._keys.dnc_building)  # as if Redis restarted empty
        return await write(**kwargs)

    monkeypatch.setattr(cache, "_change", flushed_meanwhile)
    with pytest.raises(RebuildLost):
        await cache.rebuild()
    monkeypatch.undo()
    assert await cache.live() == before
    assert await redis.get(cache._keys.dnc_rebuild_lock) is None
    assert (await cache.rebuild()) is not None


async def test_an_import_batch_racing_another_writer_skips_the_number_it_listed(
    client: Any, db: Any, database_url: str
) -> None:
    """A batch meets a number another writer is listing: it waits for that writer, then
    skips the number (counted as already listed, not mirrored again) instead of failing."""
    raced, fresh = f"+86147{random.randrange(10**8):08d}", f"+86147{random.randrange(10**8):08d}"
    other = await connect(database_url)
    importer = await connect(database_url)
    try:
        writer = other.transaction()
        await writer.start()
        await other.execute(
            "INSERT INTO dnc_entries (number, scope, source, created_by) "
            "VALUES ($1, 'all', 'supervisor', 'other')",
            raced,
        )
        batch = asyncio.create_task(
            _insert_batch(
                importer,
                [(raced, None, None), (fresh, "bulk", None)],
                scope="marketing",
                source="import:t",
                created_by="t",
            )
        )
        pid = importer.get_server_pid()
        for _ in range(200):  # until the import waits on the other writer's row
            waiting = await db.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waiting == "Lock":
                break
            await asyncio.sleep(0.01)
        assert waiting == "Lock"
        await writer.commit()
        added, lines, seq = await batch
    finally:
        await other.close()
        await importer.close()
    assert added == 1
    assert lines == f"{fresh[1:]} m\n"
    assert await db.fetchval("SELECT lines FROM dnc_changes WHERE seq = $1", seq) == lines
    rows = await db.fetch(
        "SELECT number, created_by FROM dnc_entries WHERE number = ANY($1) AND ended_at IS NULL",
        [raced, fresh],
    )
    assert {(r["number"], r["created_by"]) for r in rows} == {(raced, "other"), (fresh, "t")}


async def store_checks(db: Any, at: datetime, count: int) -> None:
    """Allowed marketing decisions made at `at` with a request_id, as the check writes
    them: for the rebuild's attempt counters and answers."""
    await db.execute(
        "INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164, "
        "caller_id, agent_id, purpose, policy_version, token_name, token_id, request_id, "
        "valid_until) "
        "SELECT gen_random_uuid(), $1::timestamptz, 'allow', '[]', jsonb_build_object('callee', "
        "'+86146' || lpad(i::text, 8, '0'), 'caller_id', '4008001234', 'agent_id', 'A1', "
        "'purpose', 'marketing', 'request_id', 'upkeep-' || i), "
        "'+86146' || lpad(i::text, 8, '0'), '4008001234', 'A1', 'marketing', 'r1', 't', "
        "'tok-upkeep', 'upkeep-' || i || '-' || $3, $1::timestamptz + interval '60 s' "
        "FROM generate_series(1, $2) AS i",
        at,
        count,
        str(random.randrange(10**9)),
    )


@pytest.mark.parametrize(
    ("owner", "script", "failing_call"),
    [
        ("cache", "_change", 3),
        ("restore", "_attempts_script", 2),
        ("restore", "_answers_script", 2),
    ],
)
async def test_a_rebuild_stops_when_redis_fails_mid_stream(
    client: Any, db: Any, clock: Any, monkeypatch: Any, owner: str, script: str, failing_call: int
) -> None:
    app = client.server.app
    cache, redis = app[DNC], app[REDIS]
    # Enough entries and decisions for many chunks (once for all three); 145 and 146 are
    # prefixes no other test draws from.
    listed = "SELECT count(*) FROM dnc_entries WHERE number LIKE '+86145%' AND ended_at IS NULL"
    if await db.fetchval(listed) < 10_000:
        await list_many(db, "145", 20_000)
    await store_checks(db, clock() - timedelta(minutes=1), 2_000)
    before = await cache.live()
    holder = cache if owner == "cache" else cache.restore
    write = getattr(holder, script)
    calls = 0

    async def failing(**kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == failing_call:
            raise RedisConnectionError("connection lost")
        return await write(**kwargs)

    monkeypatch.setattr(holder, script, failing)
    with pytest.raises(RedisConnectionError):
        await cache.rebuild()
    monkeypatch.undo()
    assert calls == failing_call
    assert await cache.live() == before
    assert await redis.get(cache._keys.dnc_rebuild_lock) is None
    assert await redis.get(cache._keys.dnc_building) is None
    rebuilt = await cache.rebuild()
    assert rebuilt is not None and await cache.live() == rebuilt


async def test_a_rebuild_longer_than_its_lock_renews_it(client: Any, monkeypatch: Any) -> None:
    app = client.server.app
    cache = app[DNC]
    monkeypatch.setattr(dnc_cache, "_LOCK_MS", 300)
    monkeypatch.setattr(dnc_cache, "RENEW_SECONDS", 0.05)
    answers = cache.restore.restore_answers

    async def slow(conn: Any) -> None:
        await asyncio.sleep(1.0)  # PostgreSQL sorting a large day, say
        await answers(conn)

    monkeypatch.setattr(cache.restore, "restore_answers", slow)
    rebuilt = await cache.rebuild()
    assert rebuilt is not None and await cache.live() == rebuilt


async def test_a_rebuild_whose_lock_went_to_another_process_stops(
    client: Any, monkeypatch: Any
) -> None:
    app = client.server.app
    cache, redis = app[DNC], app[REDIS]
    before = await cache.live()
    monkeypatch.setattr(dnc_cache, "RENEW_SECONDS", 0.05)
    answers = cache.restore.restore_answers

    async def overtaken(conn: Any) -> None:
        await redis.set(cache._keys.dnc_rebuild_lock, "another process's token")
        await asyncio.sleep(1.0)
        await answers(conn)

    monkeypatch.setattr(cache.restore, "restore_answers", overtaken)
    with pytest.raises(RebuildLost, match="another process"):
        await cache.rebuild()
    assert await cache.live() == before
    assert await redis.get(cache._keys.dnc_rebuild_lock) == b"another process's token"
    await redis.delete(cache._keys.dnc_rebuild_lock)


async def test_an_import_failing_after_a_batch_was_stored_fails_closed(
    client: Any, database_url: str
) -> None:
    """Batches already committed may not have reached Redis when an import fails (a bad
    line, PostgreSQL gone): every process is told the last committed change must be in
    the cache before a check may pass. A failure before any batch was stored tells
    nothing."""
    app = client.server.app
    numbers = [f"+86145{random.randrange(10**8):08d}" for _ in range(8)]
    published: list[int] = []
    told: list[int | None] = []

    async def lines(fail_at: int) -> AsyncIterator[tuple[int, list[str]]]:
        for i, number in enumerate(numbers, 1):
            if i == fail_at:
                raise InvalidRequest(f"line {i}: not UTF-8 text")
            yield i, [number]

    async def never_applied(seq: int, _lines: str) -> bool:
        published.append(seq)
        return False

    async def unapplied(seq: int | None) -> None:
        told.append(seq)

    before = await app[PG].fetchval("SELECT value FROM dnc_change_seq")
    conn = await connect(database_url)
    try:
        with pytest.raises(InvalidRequest):
            await import_entries(
                [conn],
                never_applied,
                unapplied,
                lines(2),
                scope="marketing",
                source="import:t",
                created_by="t",
                batch=4,
            )
        assert told == []  # nothing stored: nothing to doubt
        with pytest.raises(InvalidRequest):
            await import_entries(
                [conn],
                never_applied,
                unapplied,
                lines(7),
                scope="marketing",
                source="import:t",
                created_by="t",
                batch=2,
            )
    finally:
        await conn.close()
    # The first batch could not be applied, so the later ones were not tried; whatever
    # was committed (the last batch was abandoned on its way) is announced.
    stored = await app[PG].fetch("SELECT seq FROM dnc_changes WHERE seq > $1", before)
    assert len(stored) >= 2
    assert published == [before + 1]
    assert told == [None]


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


async def test_the_watchdog_outlives_any_error_of_a_round(client: Any, monkeypatch: Any) -> None:
    """A round failing with something other than a Redis or PostgreSQL error (asyncpg's
    pool closing under it, say) must not end the watchdog: it alone rebuilds the cache
    and catches it up, so without it checks would stay denied."""
    import asyncpg

    cache = client.server.app[DNC]
    await cache.stop_watchdog()
    rounds = 0
    recovered = asyncio.Event()

    async def failing_then_fine() -> None:
        nonlocal rounds
        rounds += 1
        if rounds <= 2:
            raise asyncpg.InterfaceError("pool is closing")
        recovered.set()

    monkeypatch.setattr(cache, "ensure", failing_then_fine)
    cache.start_watchdog(interval=0.01)
    await asyncio.wait_for(recovered.wait(), timeout=5)
    await cache.stop_watchdog()
    monkeypatch.undo()
    cache.start_watchdog()


async def test_the_command_line_import_reads_a_file_in_blocks_and_batches(
    client: Any, db: Any, settings: Any, tmp_path: Any, monkeypatch: Any
) -> None:
    """`gateway dnc import FILE`'s own path: blocks of plain mobiles taken whole, the
    other lines one by one, several batches in each lane, every entry in PostgreSQL and
    the cache."""
    monkeypatch.setattr(dnc_cli, "FILE_BLOCK_BYTES", 16 * 1024)
    monkeypatch.setattr(dnc_import, "BATCH_MIN", 3_000)
    # 166 is a prefix no other test draws from.
    numbers = sorted({f"166{random.randrange(10**8):08d}" for _ in range(20_000)})
    lines = ["number", *numbers[:10_000], "12345", numbers[0], ""]
    lines += [f"{n},bulk" for n in numbers[10_000:]]
    lines += [f"{numbers[-1]},again", f"+86 {numbers[5]}"]
    path = tmp_path / "list.csv"
    path.write_text("\n".join(lines) + "\n")
    report = await import_file(
        settings,
        path,
        path.stat().st_size,
        scope="marketing",
        actor="t",
        show_progress=False,
    )
    assert (report.added, report.already_listed, report.invalid_count) == (len(numbers), 3, 1)
    assert report.invalid[0].line == 10_002
    assert report.lines == len(lines)
    listed = [f"+86{n}" for n in numbers]
    assert len(listed) == await db.fetchval(
        "SELECT count(*) FROM dnc_entries WHERE number = ANY($1) AND ended_at IS NULL "
        "AND source = 'import:list.csv'",
        listed,
    )
    reasons = await db.fetch(
        "SELECT reason, count(*) FROM dnc_entries WHERE number = ANY($1) GROUP BY reason",
        listed,
    )
    assert sorted((r["reason"] or "", r["count"]) for r in reasons) == [
        ("", 10_000),
        ("bulk", len(numbers) - 10_000),
    ]
    cache = client.server.app[DNC]
    gen = await cache.live()
    pipe = client.server.app[REDIS].pipeline(transaction=False)
    for number in listed:
        n = digits(number)
        pipe.hget(cache._keys.dnc_bucket(gen.number, n % gen.buckets), str(n // gen.buckets))
    assert await pipe.execute() == [b"m"] * len(listed)
