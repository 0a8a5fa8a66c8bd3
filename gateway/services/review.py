"""Reading the record back: calls filtered and paged newest first, one call whole, the
audit log. Numbers are masked for roles that do not need them in full."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from gateway.core.errors import InvalidRequest
from gateway.core.times import rfc3339
from gateway.policy import RetentionPolicy, completed_fields, mask_number
from gateway.services.auth import FULL_NUMBER_ROLES
from gateway.services.disputes import dispute_item
from gateway.services.policies import call_retention
from gateway.store import audit
from gateway.store.registry_cache import RegistryCache
from gateway.store.rows import Where, newest_page

CALL_COLUMNS = (
    "call_id, created_at, decision, reasons, callee_e164, caller_id, agent_id, campaign_id, "
    "purpose, list_id, policy_version, token_name, valid_until, rules_revision"
)


class BadCursor(InvalidRequest):
    """A cursor this service did not hand out."""


def encode_cursor(created_at: datetime, call_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{call_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, call_id = raw.partition("|")
        return datetime.fromisoformat(at), uuid.UUID(call_id)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadCursor("cursor: not a cursor this service gave out") from e


@dataclass(frozen=True)
class CallFilter:
    callee: str | None = None
    agent_id: str | None = None
    campaign_id: str | None = None
    decision: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def where(self) -> Where:
        where = Where()
        where.add("callee_e164 = {}", self.callee)
        where.add("agent_id = {}", self.agent_id)
        where.add("campaign_id = {}", self.campaign_id)
        where.add("decision = {}", self.decision)
        if self.reason is not None:
            # Only denied calls carry reasons, and the reasons index holds only those.
            where.conditions.append("decision = 'deny'")
            where.add("reasons @> {}::jsonb", [{"code": self.reason}])
        where.add("created_at >= {}", self.since)
        where.add("created_at < {}", self.until)
        return where


def masked(e164: str | None, role: str) -> str | None:
    if e164 is None or role in FULL_NUMBER_ROLES:
        return e164
    return mask_number(e164)


def call_item(row: asyncpg.Record, role: str) -> dict[str, Any]:
    return {
        "call_id": str(row["call_id"]),
        "created_at": row["created_at"],
        "decision": row["decision"],
        "reasons": [r["code"] for r in row["reasons"]],
        "callee": masked(row["callee_e164"], role),
        "caller_id": row["caller_id"],
        "agent_id": row["agent_id"],
        "campaign_id": row["campaign_id"],
        "purpose": row["purpose"],
        "list_id": row["list_id"],
        "token_name": row["token_name"],
    }


async def list_calls(
    pool: asyncpg.Pool, filters: CallFilter, cursor: str | None, limit: int, role: str
) -> tuple[list[dict[str, Any]], str | None]:
    where = filters.where()
    if cursor is not None:
        at, call_id = decode_cursor(cursor)
        where.conditions.append(
            f"(created_at, call_id) < ({where.bind(at)}, {where.bind(call_id)})"
        )
    limit_param = where.bind(limit + 1)
    rows = await pool.fetch(
        f"SELECT {CALL_COLUMNS} FROM calls {where.sql()} "
        f"ORDER BY created_at DESC, call_id DESC LIMIT {limit_param}",
        *where.params,
    )
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last["created_at"], last["call_id"])
    return [call_item(r, role) for r in page], next_cursor


async def call_detail(
    pool: asyncpg.Pool, call_id: uuid.UUID, role: str, retention: RetentionPolicy
) -> dict[str, Any] | None:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {CALL_COLUMNS}, request FROM calls WHERE call_id = $1", call_id
        )
        if row is None:
            return None
        events = await conn.fetch(
            "SELECT id, type, at, duration_s, disposition, scope, token_name, received_at "
            "FROM call_events WHERE call_id = $1 ORDER BY at, id",
            call_id,
        )
        recording = await conn.fetchrow(
            "SELECT sha256, size, content_type, duration_s, stored_at FROM recordings "
            "WHERE call_id = $1 AND state = 'stored'",
            call_id,
        )
        policies = await conn.fetch(
            "SELECT cp.policy_no, p.term_months, p.terminated_at, cp.signed_at, cp.linked_by, "
            "cp.linked_at FROM call_policies cp JOIN policies p USING (policy_no) "
            "WHERE cp.call_id = $1 ORDER BY cp.linked_at, cp.policy_no",
            call_id,
        )
        visited = await conn.fetchval(
            "SELECT call_visited_policy($1, $2, $3)", call_id, row["purpose"], row["request"]
        )
        disputes = await conn.fetch(
            "SELECT * FROM disputes WHERE call_id = $1 ORDER BY id", call_id
        )
        until = await call_retention(conn, row, retention)
        hold = await conn.fetchrow(
            "SELECT hold, reason, set_by, set_at FROM call_holds WHERE call_id = $1", call_id
        )
        exceptions = await conn.fetch(
            "SELECT id, kind, state, created_at FROM compliance_exceptions WHERE call_id = $1 "
            "ORDER BY id",
            call_id,
        )
    item = call_item(row, role)
    request = dict(row["request"])
    if "callee" in request and role not in FULL_NUMBER_ROLES:
        request["callee"] = masked(row["callee_e164"], role) or "****"
    item.update(
        reasons=[completed_fields(r) for r in row["reasons"]],
        request=request,
        policy_version=row["policy_version"],
        rules_revision=row["rules_revision"],  # None: stored before decisions named it
        valid_until=row["valid_until"],
        events=[dict(e) for e in events],
        recording=dict(recording) if recording else None,
        sale=dict(policies[0]) if policies else None,  # the first policy linked
        policies=[dict(p) for p in policies],
        visited_policy=visited,
        disputes=[dispute_item(d) for d in disputes],
        hold=dict(hold) if hold else None,
        exceptions=[dict(e) for e in exceptions],
        retention_until=until,
    )
    return item


async def export_rows(
    pool: asyncpg.Pool, since: datetime | None, until: datetime | None, role: str
) -> AsyncIterator[Sequence[Any]]:
    where = CallFilter(since=since, until=until).where()
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = conn.cursor(
            f"SELECT {CALL_COLUMNS} FROM calls {where.sql()} ORDER BY created_at, call_id",
            *where.params,
            prefetch=5000,
        )
        async for row in cursor:
            yield (
                row["call_id"],
                rfc3339(row["created_at"]),
                row["decision"],
                ";".join(r["code"] for r in row["reasons"]),
                masked(row["callee_e164"], role),
                row["caller_id"],
                row["agent_id"],
                row["campaign_id"] or "",
                row["purpose"],
                row["list_id"] or "",
                row["policy_version"],
                row["token_name"],
                row["rules_revision"] or "",
            )


EXPORT_HEADER = (
    "call_id",
    "created_at",
    "decision",
    "reasons",
    "callee",
    "caller_id",
    "agent_id",
    "campaign_id",
    "purpose",
    "list_id",
    "policy_version",
    "token_name",
    "rules_revision",
)


def exception_item(row: Any) -> dict[str, Any]:
    out = dict(row)
    if out.get("call_id") is not None:
        out["call_id"] = str(out["call_id"])
    return out


class ExceptionNotFound(LookupError):
    pass


class Review:
    """What supervisors and auditors read: calls, one call whole, the CSV export (audited),
    the audit log, and the compliance exceptions, which a supervisor acknowledges or
    resolves (audited)."""

    def __init__(self, pool: asyncpg.Pool[Any], registries: RegistryCache) -> None:
        self._pool = pool
        self._registries = registries

    async def calls(
        self, filters: CallFilter, cursor: str | None, limit: int, role: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of calls, newest first; BadCursor for a cursor this did not hand out."""
        return await list_calls(self._pool, filters, cursor, limit, role)

    async def call(self, call_id: uuid.UUID, role: str) -> dict[str, Any] | None:
        return await call_detail(
            self._pool, call_id, role, self._registries.current.policy.retention
        )

    async def export(
        self, actor: str, role: str, since: datetime | None, until: datetime | None
    ) -> AsyncIterator[Sequence[Any]]:
        """Audit an export of calls, then their rows, oldest first."""
        async with self._pool.acquire() as conn, conn.transaction():
            await audit.record(
                conn,
                actor=actor,
                action="export",
                entity="calls",
                after={"from": since, "to": until},
            )
        return export_rows(self._pool, since, until, role)

    async def audit_log(
        self,
        entity: str | None,
        entity_id: str | None,
        since: datetime | None,
        until: datetime | None,
        cursor: int | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of the audit log, newest first."""
        where = Where()
        where.add("entity = {}", entity)
        where.add("entity_id = {}", entity_id)
        where.add("at >= {}", since)
        where.add("at < {}", until)
        page, next_cursor = await newest_page(self._pool, "audit_log", "seq", where, cursor, limit)
        return [dict(r) for r in page], next_cursor

    async def exceptions(
        self, state: str | None, kind: str | None, cursor: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of compliance exceptions, newest first."""
        where = Where()
        where.add("state = {}", state)
        where.add("kind = {}", kind)
        page, next_cursor = await newest_page(
            self._pool, "compliance_exceptions", "id", where, cursor, limit
        )
        return [exception_item(r) for r in page], next_cursor

    async def update_exception(
        self, actor: str, exception_id: int, state: str, note: str
    ) -> dict[str, Any]:
        """Acknowledge or resolve an exception, with a note; ExceptionNotFound when there
        is none."""
        async with self._pool.acquire() as conn, conn.transaction():
            before = await conn.fetchrow(
                "SELECT * FROM compliance_exceptions WHERE id = $1 FOR UPDATE", exception_id
            )
            if before is None:
                raise ExceptionNotFound(exception_id)
            row = await conn.fetchrow(
                "UPDATE compliance_exceptions SET state = $2, note = $3, updated_by = $4, "
                "updated_at = now() WHERE id = $1 RETURNING *",
                exception_id,
                state,
                note,
                actor,
            )
            await audit.record(
                conn,
                actor=actor,
                action="update",
                entity="exception",
                entity_id=str(exception_id),
                before=exception_item(before),
                after=exception_item(row),
                reason=note,
            )
        return exception_item(row)
