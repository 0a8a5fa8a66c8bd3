"""Disputes about a call: a customer's complaint (a `complaint` event opens one), litigation
or a regulator's enquiry (a supervisor opens those). While one is open, and for two years
after it closed, the retention job keeps the call's recording whatever its retention date
([回溯]: records are kept until two years after a dispute ends)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal

import asyncpg

from gateway.core.aliases import Conn
from gateway.core.errors import InvalidRequest, InvalidState, NotFound
from gateway.store import audit

DisputeKind = Literal["complaint", "litigation", "regulator"]


class DisputeNotFound(NotFound):
    """No dispute has this id."""


def dispute_item(row: asyncpg.Record) -> dict[str, Any]:
    out = dict(row)
    out["call_id"] = str(row["call_id"])
    out["open"] = row["closed_at"] is None
    return out


async def open_dispute(
    conn: Conn,
    call_id: uuid.UUID,
    kind: DisputeKind,
    ref: str,
    actor: str,
    at: datetime,
    event_id: int | None = None,
) -> dict[str, Any]:
    """Open a dispute on a call (audited); one per complaint event."""
    row = await conn.fetchrow(
        "INSERT INTO disputes (call_id, kind, ref, event_id, opened_by, opened_at) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING *",
        call_id,
        kind,
        ref,
        event_id,
        actor,
        at,
    )
    if row is None:  # this event opened one already
        row = await conn.fetchrow("SELECT * FROM disputes WHERE event_id = $1", event_id)
    else:
        await audit.record(
            conn,
            actor=actor,
            action="open",
            entity="dispute",
            entity_id=str(row["id"]),
            after=dispute_item(row),
        )
    assert row is not None
    return dispute_item(row)


class Disputes:
    def __init__(self, pool: asyncpg.Pool[Any], clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    async def open(
        self, actor: str, call_id: uuid.UUID, kind: DisputeKind, ref: str
    ) -> dict[str, Any]:
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM calls WHERE call_id = $1", call_id) is None:
                raise NotFound(f"no call {call_id}")
            return await open_dispute(conn, call_id, kind, ref, actor, self._clock())

    async def close(
        self, actor: str, dispute_id: int, closed_at: datetime, note: str
    ) -> dict[str, Any]:
        """Close an open dispute (audited): `closed_at` not in the future nor before it
        opened; InvalidState when it is closed already."""
        if closed_at > self._clock():
            raise InvalidRequest("closed_at: a dispute closes when it has ended, not later")
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM disputes WHERE id = $1 FOR UPDATE", dispute_id
            )
            if before is None:
                raise DisputeNotFound(f"no dispute {dispute_id}")
            if before["closed_at"] is not None:
                raise InvalidState(
                    f"dispute {dispute_id} was closed at {before['closed_at'].isoformat()}"
                )
            if closed_at < before["opened_at"]:
                raise InvalidRequest(
                    f"closed_at: before the dispute opened ({before['opened_at'].isoformat()})"
                )
            row = await conn.fetchrow(
                "UPDATE disputes SET closed_at = $2, note = $3, closed_by = $4 WHERE id = $1 "
                "RETURNING *",
                dispute_id,
                closed_at,
                note,
                actor,
            )
            assert row is not None
            await audit.record(
                conn,
                actor=actor,
                action="close",
                entity="dispute",
                entity_id=str(dispute_id),
                before=dispute_item(before),
                after=dispute_item(row),
                reason=note,
            )
        return dispute_item(row)
