"""What is linked to a call after it was placed: the policy sold on it (which sets how
long its recording is kept) and a legal hold. Each change is one transaction with its
audit entry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg

from gateway.core.errors import Conflict, NotFound
from gateway.policy import retention_until
from gateway.store import audit
from gateway.store.registry_cache import RegistryCache


@dataclass(frozen=True)
class Sale:
    created: bool  # the call had no policy linked before
    retention_until: datetime | None


class Calls:
    def __init__(self, pool: asyncpg.Pool[Any], registries: RegistryCache) -> None:
        self._pool = pool
        self._registries = registries

    async def link_sale(
        self,
        actor: str,
        call_id: uuid.UUID,
        policy_no: str,
        term_months: int,
        terminated_at: datetime | None,
    ) -> Sale:
        """Link the policy sold on a call, or update the same policy (its term or its
        termination); Conflict when the call is linked to another policy."""
        async with self._pool.acquire() as conn, conn.transaction():
            call = await conn.fetchrow(
                "SELECT created_at, purpose FROM calls WHERE call_id = $1", call_id
            )
            if call is None:
                raise NotFound(f"no call {call_id}")
            before = await conn.fetchrow(
                "SELECT * FROM call_sales WHERE call_id = $1 FOR UPDATE", call_id
            )
            if before is not None and before["policy_no"] != policy_no:
                raise Conflict(f"call {call_id} is linked to policy {before['policy_no']}")
            row = await conn.fetchrow(
                "INSERT INTO call_sales (call_id, policy_no, term_months, terminated_at, "
                "linked_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id) DO UPDATE SET "
                "term_months = EXCLUDED.term_months, terminated_at = EXCLUDED.terminated_at, "
                "updated_at = now() RETURNING *",
                call_id,
                policy_no,
                term_months,
                terminated_at,
                actor,
            )
            await audit.record(
                conn,
                actor=actor,
                action="link_sale" if before is None else "update_sale",
                entity="call",
                entity_id=str(call_id),
                before=dict(before) if before else None,
                after=dict(row) if row else None,
            )
        until = retention_until(
            call["created_at"],
            self._registries.current.policy.retention,
            term_months,
            terminated_at.astimezone(UTC) if terminated_at else None,
            return_visit=call["purpose"] == "callback",
        )
        return Sale(created=before is None, retention_until=until)

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
