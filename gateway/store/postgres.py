"""PostgreSQL: the pool, and numbered SQL migrations applied under an advisory lock."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from dataclasses import dataclass
from importlib import resources

import asyncpg
import msgspec

from gateway.core.aliases import Conn

MIGRATIONS_PACKAGE = "gateway.store.migrations"
# What PostgreSQL being unreachable looks like: refused or lost connections, a server
# shutting down or starting, a database not accepting connections. Retrying may work.
UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.ObjectNotInPrerequisiteStateError,
    # A pooled connection whose server end was cut can be left mid-operation.
    asyncpg.exceptions.InternalClientError,
)
# Advisory lock key for migrations ("gw-migrate" as a number); jobs use their own keys.
MIGRATION_LOCK_KEY = 0x67772D6D69677261
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
# A migration that starts with this line runs outside a transaction, one statement at a
# time (each ends with `;` at the end of a line), for what a transaction cannot hold:
# CREATE INDEX CONCURRENTLY, which builds an index without stopping the table's writes.
# Its statements must be safe to run again: an interrupted run starts over. Only `--`
# comments on lines of their own or after a statement's `;`, no `/* */` comments; a body
# (a DO block's) is quoted with `$$`, and the `;` ending its lines ends no statement.
WITHOUT_TRANSACTION = "-- migrate: without a transaction\n"
# Such a migration may set lock_timeout, so that the pre-call check's inserts, which queue
# behind a statement waiting for the table's exclusive lock, wait no longer than that. When
# a statement gives up on its lock, the migration starts over from its first statement
# (they are safe to run again; a statement cut short, such as CREATE INDEX CONCURRENTLY,
# can leave something the next run must clean up first) after a pause, for up to five
# minutes.
_LOCK_RETRY_SECONDS = 1.0
_LOCK_RETRY_FOR_SECONDS = 300.0
_LOCK_RETRIES_LOGGED_EVERY = 30
_STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$")
_NAMED_DOLLAR_QUOTE = re.compile(r"\$[A-Za-z_][A-Za-z_0-9]*\$")
_LOCK_POLL_SECONDS = 0.1
_LOCK_WAIT_LOGGED_AFTER = 2.0
# A long statement of a migration (an index build) is ended by PostgreSQL within this
# long once the client is gone (killed, or its host lost), so that it does not go on
# holding the migration lock for a run that nobody waits for.
_CLIENT_CHECK = {"client_connection_check_interval": "1s"}

log = logging.getLogger("gateway.migrate")


class MigrationFailed(Exception):
    """A migration's statement failed; the message names the migration and PostgreSQL's
    error. Nothing of a migration run in a transaction is kept; one run outside a
    transaction starts over from its first statement next time."""


@dataclass(frozen=True)
class Migration:
    number: int
    name: str
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.startswith(WITHOUT_TRANSACTION)

    def statements(self) -> list[str]:
        """The statements of a migration run outside a transaction, in order."""
        if "/*" in self.sql or _NAMED_DOLLAR_QUOTE.search(self.sql):
            raise ValueError(
                f"{self.name}: a migration run outside a transaction may not hold /* */ "
                "comments or $name$ quotes (bodies are quoted with $$)"
            )
        found: list[str] = []
        lines: list[str] = []
        quotes = 0  # $$ seen in the statement so far: odd inside a body
        for line in self.sql.splitlines():
            if line.lstrip().startswith("--"):
                continue
            quotes += line.count("$$")
            ends = quotes % 2 == 0 and _STATEMENT_END.search(line) is not None
            lines.append(_STATEMENT_END.sub("", line) if ends else line)
            if ends:
                found.append("\n".join(lines).strip())
                lines, quotes = [], 0
        rest = "\n".join(lines).strip()
        if rest:
            raise ValueError(f"{self.name}: the last statement does not end with ;")
        return found


def available_migrations() -> list[Migration]:
    found: list[Migration] = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.number)
    numbers = [m.number for m in found]
    if len(set(numbers)) != len(numbers):
        raise RuntimeError(f"two migrations share a number: {numbers}")
    return found


async def migrate(dsn: str, upto: int | None = None) -> list[str]:
    """Apply every pending migration (those numbered up to `upto` when given), each in its
    own transaction unless it says otherwise; returns the names applied.

    A session-level advisory lock serialises concurrent runs: the second waits for it, then
    finds nothing left to do.
    """
    conn: Conn = await asyncpg.connect(dsn, server_settings=_CLIENT_CHECK)
    current_migration = [""]  # named in the log lines of its RAISE WARNING

    def log_server_message(_: object, message: asyncpg.PostgresLogMessage) -> None:
        # A migration's RAISE WARNING reaches the operator; PostgreSQL's notices (an
        # object already there, skipped) do not need to.
        level = logging.WARNING if message.severity_en == "WARNING" else logging.DEBUG
        log.log(level, "%s: %s", current_migration[0] or "migrate", message.message)

    conn.add_log_listener(log_server_message)
    applied: list[str] = []
    try:
        await _take_lock(conn)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       number integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["number"] for r in await conn.fetch("SELECT number FROM schema_migrations")}
            for migration in available_migrations():
                if upto is not None and migration.number > upto:
                    break
                if migration.number in done:
                    continue
                current_migration[0] = migration.name
                try:
                    if migration.transactional:
                        async with conn.transaction():
                            await conn.execute(migration.sql)
                            await _record(conn, migration)
                    else:
                        await _run_outside_a_transaction(conn, migration)
                        await _record(conn, migration)
                except (asyncpg.PostgresError, ValueError) as e:
                    raise MigrationFailed(f"{migration.name}: {type(e).__name__}: {e}") from e
                finally:
                    current_migration[0] = ""
                applied.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
    return applied


async def _take_lock(conn: Conn) -> None:
    # Polled, not waited for inside one statement: a waiting statement holds a snapshot,
    # and CREATE INDEX CONCURRENTLY in the run holding the lock waits for every older
    # snapshot to end. Waiting inside the lock call would deadlock the two.
    started = time.monotonic()
    logged = False
    while True:
        if await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
            return
        if not logged and time.monotonic() - started >= _LOCK_WAIT_LOGGED_AFTER:
            logged = True
            holder = await conn.fetchrow(
                "SELECT a.pid, a.state, a.wait_event, left(a.query, 120) AS query "
                "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 1",
                MIGRATION_LOCK_KEY >> 32,
                MIGRATION_LOCK_KEY & 0xFFFFFFFF,
            )
            log.warning(
                "waiting for another migration run: %s",
                "its session has ended"
                if holder is None
                else f"pid {holder['pid']}, {holder['state']}, waiting for "
                f"{holder['wait_event'] or 'nothing'}: {holder['query']}",
            )
        await asyncio.sleep(_LOCK_POLL_SECONDS)


async def _run_outside_a_transaction(conn: Conn, migration: Migration) -> None:
    statements = migration.statements()
    deadline = time.monotonic() + _LOCK_RETRY_FOR_SECONDS
    tries = 0
    while True:
        tries += 1
        try:
            for statement in statements:
                await conn.execute(statement)
        except asyncpg.exceptions.LockNotAvailableError:
            await conn.execute("RESET lock_timeout")
            if time.monotonic() >= deadline:
                raise
            if tries % _LOCK_RETRIES_LOGGED_EVERY == 1:
                await _log_lock_wait(conn, migration.name, tries)
            await asyncio.sleep(_LOCK_RETRY_SECONDS)
            continue
        # What the migration set for itself ends with it, whether it said so or not.
        await conn.execute("RESET lock_timeout")
        return


async def _log_lock_wait(conn: Conn, name: str, tries: int) -> None:
    oldest = await conn.fetch(
        "SELECT pid, state, now() - xact_start AS age, left(query, 120) AS query "
        "FROM pg_stat_activity WHERE datname = current_database() "
        "AND xact_start IS NOT NULL AND pid <> pg_backend_pid() "
        "ORDER BY xact_start LIMIT 3"
    )
    log.warning(
        "%s: a statement did not get its lock within lock_timeout (try %d); starting the "
        "migration over in %.0f s, for up to %.0f s in all. Oldest open transactions: %s",
        name,
        tries,
        _LOCK_RETRY_SECONDS,
        _LOCK_RETRY_FOR_SECONDS,
        "; ".join(
            f"pid {r['pid']}, {r['state']} for {r['age'].total_seconds():.1f} s: {r['query']}"
            for r in oldest
        )
        or "none",
    )


async def _record(conn: Conn, migration: Migration) -> None:
    await conn.execute(
        "INSERT INTO schema_migrations (number, name) VALUES ($1, $2)",
        migration.number,
        migration.name,
    )


def _encode_json(value: object) -> str:
    # msgspec writes datetimes, dates and UUIDs as their RFC 3339 / canonical strings.
    return msgspec.json.encode(value).decode()


async def _init_connection(conn: Conn) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(
            kind, encoder=_encode_json, decoder=json.loads, schema="pg_catalog"
        )


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=30
    )
    return pool


async def connect(dsn: str) -> asyncpg.Connection:
    conn: asyncpg.Connection = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn
