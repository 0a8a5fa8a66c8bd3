"""A legal hold on a call: a held call's recording is never deleted. Each change is one
transaction with its audit entry. The policies sold on a call are in `policies`."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from gateway.core.errors import NotFound
from gateway.store import audit
from gateway.store.registry_cache import RegistryCache


class Calls:
    def __init__(self, pool: asyncpg.Pool[Any], registries: RegistryCache) -> None:
        self._pool = pool
        self._registries = registries

    async def set_hold(self, actor: str, call_id: uuid.UUID, hold: bool, reason: str) -> None:
        """Set or lift a legal hold on a call; NotFound for no such call."""
        async with self._pool.acquire() as conn, conn.transaction():
            if await conn.fetchval("SELECT 1 FROM calls WHERE call_id = $1", call_id) is None:
                raise NotFound(f"no call {call_id}")
            before = await conn.fetchrow(
                "SELECT * FROM call_holds WHERE call_id = $1 FOR UPDATE", call_id
            )
            row = await conn.fetchrow(
                "INSERT INTO call_holds (call_id, hold, reason, set_by) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (call_id) DO UPDATE SET hold = EXCLUDED.hold, "
                "reason = EXCLUDED.reason, set_by = EXCLUDED.set_by, set_at = now() RETURNING *",
                call_id,
                hold,
                reason,
                actor,
            )
            await audit.record(
                conn,
                actor=actor,
                action="hold" if hold else "release",
                entity="call",
                entity_id=str(call_id),
                before=dict(before) if before else None,
                after=dict(row) if row else None,
                reason=reason,
            )
