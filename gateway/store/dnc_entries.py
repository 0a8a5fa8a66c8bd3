"""Do-not-call entries in PostgreSQL. An entry is never erased: removing or replacing it
sets its end (when, who, why) and the history stays."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from gateway.core.aliases import Conn


@dataclass(frozen=True)
class Listing:
    entry: asyncpg.Record
    created: bool  # False when an identical active entry already existed


async def active_entry(conn: Conn, e164: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL FOR UPDATE", e164
    )


async def list_number(
    conn: Conn,
    e164: str,
    *,
    scope: str,
    source: str,
    created_by: str,
    reason: str | None = None,
    expires_at: datetime | None = None,
    evidence_call_id: uuid.UUID | None = None,
) -> Listing:
    """List a number (inside the caller's transaction). An active entry with the same scope
    and expiry is kept as it is; a different one is ended as superseded and replaced."""
    current = await active_entry(conn, e164)
    if current is not None and current["expires_at"] is not None:
        if current["expires_at"] <= await conn.fetchval("SELECT now()"):
            await conn.execute(
                "UPDATE dnc_entries SET ended_at = expires_at, ended_by = 'system', "
                "end_reason = 'expired' WHERE id = $1",
                current["id"],
            )
            current = None
    if current is not None:
        if current["scope"] == scope and current["expires_at"] == expires_at:
            return Listing(current, created=False)
        await conn.execute(
            "UPDATE dnc_entries SET ended_at = now(), ended_by = $2, end_reason = $3 WHERE id = $1",
            current["id"],
            created_by,
            "superseded by a new entry",
        )
    row = await conn.fetchrow(
        """INSERT INTO dnc_entries (number, scope, source, reason, created_by, expires_at,
                                    evidence_call_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *""",
        e164,
        scope,
        source,
        reason,
        created_by,
        expires_at,
        evidence_call_id,
    )
    assert row is not None
    return Listing(row, created=True)


async def end_entry(conn: Conn, e164: str, *, ended_by: str, reason: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE dnc_entries SET ended_at = now(), ended_by = $2, end_reason = $3 "
        "WHERE number = $1 AND ended_at IS NULL RETURNING *",
        e164,
        ended_by,
        reason,
    )


async def history(conn: Conn, e164: str) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        # One branch per partial index: the active entry, and the ended ones.
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL UNION ALL "
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NOT NULL ORDER BY id",
        e164,
    )
    return list(rows)
