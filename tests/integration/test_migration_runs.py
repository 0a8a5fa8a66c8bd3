"""Migrations run against a fresh database: once, concurrently, interrupted, and the
locks they wait for."""

from __future__ import annotations

import asyncio
import secrets
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import msgspec
import pytest

from gateway.core.settings import Settings
from gateway.store import postgres
from gateway.store.postgres import (
    MIGRATION_LOCK_KEY,
    WITHOUT_TRANSACTION,
    Migration,
    MigrationFailed,
    available_migrations,
    migrate,
)
from tests.support.databases import ADMIN_URL, db_url
from tests.support.processes import run_cli


@pytest.fixture
async def fresh_database() -> Any:
    name = f"gwtest_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_once_and_rerun_applies_nothing(fresh_database: str) -> None:
    first = await migrate(fresh_database)
    assert first == [m.name for m in available_migrations()]
    assert await migrate(fresh_database) == []


async def test_a_run_can_stop_at_a_migration_and_the_next_run_goes_on(
    fresh_database: str,
) -> None:
    names = [m.name for m in available_migrations()]
    middle = available_migrations()[len(names) // 2].number
    first = await migrate(fresh_database, upto=middle)
    assert first == names[: len(names) // 2 + 1]
    assert await migrate(fresh_database, upto=middle) == []
    assert await migrate(fresh_database) == names[len(names) // 2 + 1 :]


async def test_concurrent_migrations_do_not_collide(fresh_database: str) -> None:
    results = await asyncio.gather(*(migrate(fresh_database) for _ in range(4)))
    applied = [name for r in results for name in r]
    assert sorted(applied) == sorted(m.name for m in available_migrations())
    conn = await asyncpg.connect(fresh_database)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(available_migrations())


_INSERT_DENIED = (
    "INSERT INTO calls (call_id, created_at, decision, reasons, request, caller_id, agent_id, "
    "purpose, policy_version, token_name, valid_until) VALUES (gen_random_uuid(), now(), "
    "'deny', '[{\"code\": \"dnc_listed\"}]', '{}', '4008001234', 'A1', 'marketing', 'r1', "
    "'t', now())"
)
_BUILT = [("calls_reasons", True, "(decision = 'deny'::text)")]


async def _reasons_indexes(conn: Any) -> list[tuple[str, bool, str]]:
    rows = await conn.fetch(
        "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'calls_reasons%' "
        "ORDER BY 1"
    )
    return [(r[0], r[1], r[2].rsplit(" WHERE ", 1)[-1]) for r in rows]


async def _build_waiting(conn: Any) -> None:
    """Until the concurrent build waits for a transaction older than it to end."""
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX CONCURRENTLY%' "
            "AND wait_event = 'virtualxid'"
        )
        if waiting:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no concurrent index build waited for the open transaction")


async def _reopen_014(fresh_database: str) -> tuple[Any, Any, Any]:
    """The schema migrated, 014 marked unapplied, 200 denied calls, and a transaction open
    on a second connection since before the build (as an export holds one)."""
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    reader = await asyncpg.connect(fresh_database)
    await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
    for _ in range(200):
        await conn.execute(_INSERT_DENIED)
    held = reader.transaction(isolation="repeatable_read")
    await held.start()
    await reader.fetchval("SELECT count(*) FROM calls")
    return conn, reader, held


async def test_the_reasons_index_is_rebuilt_after_an_interruption_at_either_point(
    fresh_database: str,
) -> None:
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await _reasons_indexes(conn) == _BUILT
        # After the old index was dropped and before the rename.
        await conn.execute("ALTER INDEX calls_reasons RENAME TO calls_reasons_denied")
        await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
        assert await migrate(fresh_database) == ["014_calls_reasons_denied_only.sql"]
        assert await _reasons_indexes(conn) == _BUILT
        # After the rename, before the migration was recorded.
        await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
        assert await migrate(fresh_database) == ["014_calls_reasons_denied_only.sql"]
        assert await _reasons_indexes(conn) == _BUILT
    finally:
        await conn.close()


async def test_decisions_are_stored_while_two_runs_build_the_reasons_index(
    fresh_database: str,
) -> None:
    conn, reader, held = await _reopen_014(fresh_database)
    try:
        runs = asyncio.gather(migrate(fresh_database), migrate(fresh_database))
        await _build_waiting(conn)
        # The build is under way and waits; the table takes inserts meanwhile.
        # (The bound only tells "stored" from "waiting for the build", which would be
        # forever: generous, so a busy machine does not fail it.)
        for _ in range(20):
            await asyncio.wait_for(conn.execute(_INSERT_DENIED), timeout=10)
        assert not runs.done()
        await held.commit()
        applied = [name for r in await asyncio.wait_for(runs, timeout=30) for name in r]
        assert applied == ["014_calls_reasons_denied_only.sql"]
        assert await _reasons_indexes(conn) == _BUILT
        count = await conn.fetchval(
            "SELECT count(*) FROM calls WHERE decision = 'deny' "
            'AND reasons @> \'[{"code": "dnc_listed"}]\''
        )
        assert count == 220
    finally:
        await reader.close()
        await conn.close()


async def test_a_build_cut_short_is_replaced_by_the_next_run(fresh_database: str) -> None:
    conn, reader, held = await _reopen_014(fresh_database)
    try:
        run = asyncio.create_task(migrate(fresh_database))
        await _build_waiting(conn)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        # The statement was cancelled on the server: its index is left invalid, and the
        # lock is free for the next run.
        assert ("calls_reasons_denied", False, "(decision = 'deny'::text)") in (
            await _reasons_indexes(conn)
        )
        await held.rollback()
        assert await asyncio.wait_for(migrate(fresh_database), timeout=30) == [
            "014_calls_reasons_denied_only.sql"
        ]
        assert await _reasons_indexes(conn) == _BUILT
    finally:
        await reader.close()
        await conn.close()


async def test_a_killed_run_does_not_leave_its_build_holding_the_lock(
    fresh_database: str,
) -> None:
    conn, reader, held = await _reopen_014(fresh_database)
    code = "import asyncio, sys; from gateway.store.postgres import migrate; "
    code += "asyncio.run(migrate(sys.argv[1]))"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, fresh_database)
    try:
        await _build_waiting(conn)
        proc.kill()
        await proc.wait()
        # PostgreSQL notices the client is gone and ends the build, releasing the lock.
        for _ in range(100):
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the killed run's session still holds the migration lock")
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        await held.rollback()
        assert await migrate(fresh_database) == ["014_calls_reasons_denied_only.sql"]
        assert await _reasons_indexes(conn) == _BUILT
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await reader.close()
        await conn.close()


async def _migrating_until_logged(
    url: str, caplog: pytest.LogCaptureFixture, text: str
) -> asyncio.Task[list[str]]:
    """A migration run in the background, once it has logged `text` (or after 5 s)."""
    run = asyncio.create_task(migrate(url))
    for _ in range(100):
        if text in caplog.text:
            break
        await asyncio.sleep(0.05)
    return run


async def test_a_run_waiting_for_the_lock_says_who_holds_it(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    await migrate(fresh_database)
    holder = await asyncpg.connect(fresh_database)
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        pid = holder.get_server_pid()
        run = await _migrating_until_logged(
            fresh_database, caplog, "waiting for another migration run"
        )
        assert f"pid {pid}, idle" in caplog.text
        assert not run.done()
        await holder.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
        assert await asyncio.wait_for(run, timeout=10) == []
    finally:
        await holder.close()


_AGREE = "calls_reasons_agree"
_MIGRATION_015 = "015_calls_reasons_agree_with_decision.sql"
_INSERT_CALL = (
    "INSERT INTO calls (call_id, created_at, decision, reasons, request, caller_id, agent_id, "
    "purpose, policy_version, token_name, valid_until) VALUES (gen_random_uuid(), now(), "
    "$1, $2::jsonb, '{}', '4008001234', 'A1', 'marketing', 'r1', 't', now())"
)
_DENIED_REASONS = '[{"code": "dnc_listed", "rule": "dnc", "message": "m"}]'


async def _agree_validated(conn: Any) -> bool | None:
    validated: bool | None = await conn.fetchval(
        "SELECT convalidated FROM pg_constraint WHERE conname = $1", _AGREE
    )
    return validated


async def _reopen_015(fresh_database: str) -> Any:
    """The schema migrated, then the check taken away again and 015 marked unapplied."""
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    await conn.execute(f"ALTER TABLE calls DROP CONSTRAINT {_AGREE}")
    await conn.execute("DELETE FROM schema_migrations WHERE number = 15")
    return conn


_DISAGREEING = [
    ("allow", _DENIED_REASONS),
    ("deny", "[]"),
    ("deny", '{"code": "dnc_listed", "rule": "dnc", "message": "m"}'),
    ("allow", "null"),
    ("allow", "{}"),
]


async def test_the_table_refuses_reasons_that_disagree_with_the_decision(
    fresh_database: str,
) -> None:
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    try:
        assert await _agree_validated(conn) is True
        for decision, reasons in _DISAGREEING:
            with pytest.raises(asyncpg.CheckViolationError, match=_AGREE):
                await conn.execute(_INSERT_CALL, decision, reasons)
        await conn.execute(_INSERT_CALL, "allow", "[]")
        await conn.execute(_INSERT_CALL, "deny", _DENIED_REASONS)
        assert await conn.fetchval("SELECT count(*) FROM calls") == 2
    finally:
        await conn.close()


async def test_adding_the_reasons_check_waits_for_its_lock_without_holding_up_decisions(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await _reopen_015(fresh_database)
    reader = await asyncpg.connect(fresh_database)
    try:
        # A long export of calls holds the table's share lock; the check needs the exclusive
        # one for a moment.
        held = reader.transaction()
        await held.start()
        await reader.fetchval("SELECT count(*) FROM calls")
        run = await _migrating_until_logged(fresh_database, caplog, "did not get its lock")
        assert (
            f"{_MIGRATION_015}: a statement did not get its lock within lock_timeout" in caplog.text
        )
        assert f"pid {reader.get_server_pid()}, idle in transaction for" in caplog.text
        # Decisions queue behind the waiting statement for lock_timeout (200 ms) at most.
        # (Waiting for the commit below would be forever: the bound is generous, so a busy
        # machine does not fail it.)
        for _ in range(20):
            await asyncio.wait_for(conn.execute(_INSERT_CALL, "allow", "[]"), timeout=10)
        assert not run.done()
        await held.commit()
        assert await asyncio.wait_for(run, timeout=10) == [_MIGRATION_015]
        assert await _agree_validated(conn) is True
        assert await conn.fetchval("SELECT count(*) FROM calls") == 20
    finally:
        await reader.close()
        await conn.close()


async def _index_valid(conn: Any, name: str) -> bool | None:
    valid: bool | None = await conn.fetchval(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = $1",
        name,
    )
    return valid


async def test_a_lock_timeout_starts_the_migration_over_from_its_first_statement(
    fresh_database: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A concurrent build given up on (here, waiting for an open transaction) leaves an
    # invalid index behind: only the whole migration, whose first statement drops it, can
    # be run again; the build alone would find its index there.
    await migrate(fresh_database)
    extra = Migration(
        99,
        "099_test_index.sql",
        WITHOUT_TRANSACTION
        + "SET lock_timeout = '200ms';\n"
        + "DROP INDEX CONCURRENTLY IF EXISTS calls_by_token;\n"
        + "CREATE INDEX CONCURRENTLY calls_by_token ON calls (token_name);\n",
    )
    every = available_migrations()
    monkeypatch.setattr(postgres, "available_migrations", lambda: [*every, extra])
    conn = await asyncpg.connect(fresh_database)
    reader = await asyncpg.connect(fresh_database)
    try:
        held = reader.transaction(isolation="repeatable_read")
        await held.start()
        await reader.fetchval("SELECT count(*) FROM calls")
        run = await _migrating_until_logged(
            fresh_database, caplog, "099_test_index.sql: a statement did not get its lock"
        )
        assert "099_test_index.sql: a statement did not get its lock" in caplog.text
        await asyncio.sleep(1.5)  # at least one more try
        assert not run.done()
        assert await _index_valid(conn, "calls_by_token") is False  # the cut build's
        await held.commit()
        assert await asyncio.wait_for(run, timeout=10) == ["099_test_index.sql"]
        assert await _index_valid(conn, "calls_by_token") is True
    finally:
        await reader.close()
        await conn.close()


async def test_a_disagreeing_row_written_before_is_reported_and_new_ones_are_refused(
    fresh_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    conn = await _reopen_015(fresh_database)
    try:
        await conn.execute(_INSERT_CALL, "deny", "[]")
        assert await migrate(fresh_database) == [_MIGRATION_015]
        assert "calls holds rows whose reasons disagree with their decision" in caplog.text
        # The query the warning gives finds the row.
        query = caplog.text.split("List them with: ", 1)[1].splitlines()[0]
        assert [(r["decision"], r["reasons"]) for r in await conn.fetch(query)] == [("deny", "[]")]
        assert await _agree_validated(conn) is False
        with pytest.raises(asyncpg.CheckViolationError, match=_AGREE):
            await conn.execute(_INSERT_CALL, "allow", _DENIED_REASONS)
    finally:
        await conn.close()


async def test_a_failed_migration_is_named_and_not_recorded(
    fresh_database: str, settings: Settings
) -> None:
    conn = await _reopen_015(fresh_database)
    try:
        await conn.execute("ALTER TABLE calls RENAME TO calls_elsewhere")
        with pytest.raises(
            MigrationFailed, match=rf'^{_MIGRATION_015}: UndefinedTableError: .*"calls"'
        ):
            await migrate(fresh_database)
        assert not await conn.fetchval("SELECT count(*) FROM schema_migrations WHERE number = 15")
        there = msgspec.structs.replace(settings, database_url=fresh_database)
        code, _, err = await run_cli(there, "migrate")
        assert code == 1
        assert err.startswith(f"error: {_MIGRATION_015}: UndefinedTableError: ")
        assert "Traceback" not in err
        await conn.execute("ALTER TABLE calls_elsewhere RENAME TO calls")
        assert await migrate(fresh_database) == [_MIGRATION_015]
    finally:
        await conn.close()


_INSERT_SOLD_CALL = (
    "INSERT INTO calls (call_id, created_at, decision, reasons, request, caller_id, agent_id, "
    "purpose, policy_version, token_name, valid_until) VALUES ($1, now(), 'allow', '[]', '{}', "
    "'4008001234', 'A1', 'marketing', 'r1', 't', now()) "
)


async def test_sales_linked_before_022_become_policies_linked_to_their_calls(
    fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    every = available_migrations()
    monkeypatch.setattr(
        postgres, "available_migrations", lambda: [m for m in every if m.number < 22]
    )
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    try:
        calls = [uuid.uuid4() for _ in range(4)]
        for call in calls:
            await conn.execute(_INSERT_SOLD_CALL, call)
        sales = [
            (calls[0], "P-A", 240, None),
            (calls[1], "P-B", 12, datetime(2027, 1, 1, tzinfo=UTC)),
            # One policy number on two calls with different terms (the old table allowed it):
            # the policy keeps the terms that keep its calls longest.
            (calls[2], "P-C", 12, datetime(2040, 1, 1, tzinfo=UTC)),  # kept to 2045
            (calls[3], "P-C", 24, datetime(2030, 1, 1, tzinfo=UTC)),  # kept to 2040
        ]
        await conn.executemany(
            "INSERT INTO call_sales (call_id, policy_no, term_months, terminated_at, linked_by) "
            "VALUES ($1, $2, $3, $4, 'dialer-1')",
            sales,
        )
        monkeypatch.undo()
        assert await migrate(fresh_database) == [m.name for m in every if m.number >= 22]
        policies = {
            r["policy_no"]: (r["term_months"], r["terminated_at"])
            for r in await conn.fetch("SELECT * FROM policies")
        }
        assert policies == {
            "P-A": (240, None),
            "P-B": (12, datetime(2027, 1, 1, tzinfo=UTC)),
            "P-C": (12, datetime(2040, 1, 1, tzinfo=UTC)),
        }
        links = await conn.fetch(
            "SELECT call_id, policy_no, linked_by, signed_at = linked_at AS signed FROM "
            "call_policies"
        )
        assert sorted((r["call_id"], r["policy_no"]) for r in links) == sorted(
            (c, p) for c, p, _, _ in sales
        )
        assert all(r["linked_by"] == "dialer-1" and r["signed"] for r in links)
        # Nothing lost: the old rows are kept as they were.
        kept = await conn.fetchval("SELECT count(*) FROM call_sales_before_022")
        assert kept == len(sales)
    finally:
        await conn.close()
