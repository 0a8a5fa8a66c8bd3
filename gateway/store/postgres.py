"""PostgreSQL: the pool, and numbered SQL migrations applied under an advisory lock."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg
import msgspec

from gateway.types import Conn

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
# Its statements must be safe to run again: an interrupted run starts over.
WITHOUT_TRANSACTION = "-- migrate: without a transaction\n"
_STATEMENT_END = re.compile(r";[ \t]*(?:--[^\n]*)?$", re.MULTILINE)
_LOCK_POLL_SECONDS = 0.1


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
        parts = _STATEMENT_END.split(self.sql)
        found = []
        for part in parts:
            code = "\n".join(
                line for line in part.splitlines() if not line.lstrip().startswith("--")
            ).strip()
            if code:
                found.append(code)
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


async def migrate(dsn: str) -> list[str]:
    """Apply every pending migration, each in its own transaction; returns the names applied.

    A session-level advisory lock serialises concurrent runs: the second waits, then finds
    nothing left to do.
    """
    conn: Conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        # Polled, not waited for inside one statement: a waiting statement holds a
        # snapshot, and CREATE INDEX CONCURRENTLY in the run holding the lock waits for
        # every older snapshot to end. Waiting inside the lock call would deadlock the two.
        while True:
            if await conn.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK_KEY):
                break
            await asyncio.sleep(_LOCK_POLL_SECONDS)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       number integer PRIMARY KEY,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now())"""
            )
            done = {r["number"] for r in await conn.fetch("SELECT number FROM schema_migrations")}
            for migration in available_migrations():
                if migration.number in done:
                    continue
                if migration.transactional:
                    async with conn.transaction():
                        await conn.execute(migration.sql)
                        await _record(conn, migration)
                else:
                    for statement in migration.statements():
                        await conn.execute(statement)
                    await _record(conn, migration)
                applied.append(migration.name)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()
    return applied


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
