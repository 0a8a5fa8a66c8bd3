"""The do-not-call list as the product uses it: every change is committed to PostgreSQL
first (with its audit entry and its change number), then applied to the Redis cache
before the caller hears back, so every gateway process denies the number from the next
check on. When it cannot be applied (Redis unreachable or behind), every process is told
so before the answer goes out, and denies checks as degraded until the cache has caught
up: an acknowledged change is never forgotten."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import asyncpg
from redis.exceptions import RedisError

from gateway.core.aliases import Conn
from gateway.core.errors import InvalidRequest, RefusalProtected
from gateway.core.times import BEIJING_SESSION, beijing_sql
from gateway.policy.dnc_merge import (
    Protection,
    Refused,
    end,
    protected_until,
    replace,
    weakens,
)
from gateway.policy.retention import REFUSAL_MIN_DAYS, earliest_refusal_expiry
from gateway.policy.types import DncScope
from gateway.store import audit, dnc_changes
from gateway.store import dnc_entries as entries
from gateway.store.dnc_cache import DncCache
from gateway.store.dnc_changes import cache_line
from gateway.store.dnc_entries import REFUSAL_SOURCE
from gateway.store.dnc_import import ImportReport, Progress, batch_size, import_entries

log = logging.getLogger("gateway.dnc")
CHINA = ZoneInfo("Asia/Shanghai")


class RefusalTooShort(InvalidRequest):
    """An expiry sooner than a customer's refusal must stand."""


@dataclass(frozen=True)
class Change:
    entry: dict[str, Any]
    created: bool  # a new entry was made (201), else an existing one answered (200)


def check_refusal_expiry(source: str, expires_at: datetime | None, made_at: datetime) -> None:
    if source == REFUSAL_SOURCE and expires_at is not None:
        earliest = earliest_refusal_expiry(made_at)
        if expires_at < earliest:
            shown = earliest.astimezone(CHINA).isoformat()
            raise RefusalTooShort(
                "expires_at: a customer's refusal must stand six calendar months and at "
                f"least {REFUSAL_MIN_DAYS} days (expires_at no earlier than {shown})",
                message_zh=(
                    f"expires_at：客户拒绝至少保留六个自然月且不少于 {REFUSAL_MIN_DAYS} 天"
                    f"（到期时间不得早于 {shown}）"
                ),
            )


def refused(number: str, until: datetime, change: str, change_zh: str) -> RefusalProtected:
    when = until.astimezone(CHINA).isoformat(timespec="seconds")
    return RefusalProtected(
        f"{change} would weaken the customer's refusal of calls to {number}, protected "
        f"until {when}: send consent_evidence (where the customer asked to be called again)",
        protected_until=when,
        message_zh=(
            f"客户已明确拒绝来电，该拒绝受保护至 {when}，{change_zh}会削弱它。"
            "如客户要求再次来电，请在 consent_evidence 中注明证据（如客户来电录音、签字的书面申请）"
        ),
    )


def answer(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """An entry as the API shows it: its columns, and for an active one when the
    protection of the customer refusal it holds ends."""
    entry = dict(row)
    active = entry["ended_at"] is None
    entry["protected_until"] = protected_until(entries.protection(row)) if active else None
    return entry


class DncList:
    def __init__(self, pool: asyncpg.Pool, cache: DncCache) -> None:
        self._pool = pool
        self._cache = cache

    @property
    def cache(self) -> DncCache:
        return self._cache

    async def publish(self, seq: int, lines: str) -> None:
        """After change `seq` committed: into Redis, or every process told it is not."""
        if await self._cache.publish(seq, lines):
            return
        await self.unapplied(seq)

    async def unapplied(self, seq: int | None) -> None:
        """Changes up to `seq` (None: up to the newest) are committed but perhaps not in
        Redis: every process must deny checks until its cache holds them; returns once
        they were told."""
        self._cache.wake()
        try:
            if seq is None:
                seq = await dnc_changes.latest(self._pool)
            told = await dnc_changes.announce_unapplied(self._pool, self._cache.known, seq)
        except (asyncpg.PostgresError, OSError) as e:
            told = False
            log.error("could not announce do-not-call changes up to %s: %s", seq, e)
        log.error(
            "do-not-call change acknowledged without the cache; checks deny until it catches up",
            extra={"fields": {"change": seq, "announced": told}},
        )

    async def add(
        self,
        e164: str,
        *,
        scope: str,
        source: str,
        actor: str,
        reason: str | None,
        expires_at: datetime | None = None,
        evidence_call_id: uuid.UUID | None = None,
    ) -> Change:
        """List a number. With an active entry the two merge: the wider scope and the later
        expiry (see gateway.policy.dnc_merge); this never weakens an entry."""
        async with self._pool.acquire() as c, c.transaction():
            now = await c.fetchval("SELECT now()")
            check_refusal_expiry(source, expires_at, now)
            listing = await entries.list_number(
                c,
                e164,
                scope=scope,
                source=source,
                created_by=actor,
                reason=reason,
                expires_at=expires_at,
                evidence_call_id=evidence_call_id,
            )
            after = answer(listing.entry)
            if listing.created:
                before = listing.before
                seq, line = await self._changed(c, "list", e164, actor, reason, before, after)
        if listing.created:
            await self.publish(seq, line)
        return Change(after, created=listing.created and listing.before is None)

    async def replace(
        self,
        e164: str,
        *,
        scope: str,
        source: str,
        actor: str,
        reason: str,
        expires_at: datetime | None,
        consent_evidence: str | None,
    ) -> Change:
        """Set the number's entry to exactly this scope and expiry, narrower or sooner
        ending than the active one if so asked. Inside a customer refusal's protection a
        weakening needs `consent_evidence`, else RefusalProtected."""
        async with self._pool.acquire() as c, c.transaction():
            now = await c.fetchval("SELECT now()")
            check_refusal_expiry(source, expires_at, now)
            asked = Protection(
                cast(DncScope, scope), expires_at, now if source == REFUSAL_SOURCE else None
            )
            row = None
            while row is None:  # again when an import listed the number meanwhile
                current = await entries.active_entry(c, e164)
                result = replace(
                    entries.protection(current) if current is not None else None,
                    asked,
                    now=now,
                    consent=consent_evidence is not None,
                )
                if isinstance(result, Refused):
                    raise refused(
                        e164, result.protected_until, "this replace", "此次替换（replace）"
                    )
                before = None
                if current is not None:
                    # The consent is kept on the entry it weakened (and in the audit log).
                    weakened = weakens(entries.protection(current), asked)
                    before = await entries.end_entry(
                        c,
                        current["id"],
                        ended_by=actor,
                        reason=f"replaced: {reason}",
                        consent_evidence=consent_evidence if weakened else None,
                    )
                row = await entries.insert_entry(
                    c,
                    e164,
                    result,
                    source=source,
                    created_by=actor,
                    reason=reason,
                    supersedes=before["id"] if before is not None else None,
                )
            after = answer(row)
            seq, line = await self._changed(c, "replace", e164, actor, reason, before, after)
        await self.publish(seq, line)
        return Change(after, created=before is None)

    async def _changed(
        self,
        c: Conn,
        action: str,
        e164: str,
        actor: str,
        reason: str | None,
        before: asyncpg.Record | None,
        after: dict[str, Any],
    ) -> tuple[int, str]:
        """Audit a new active entry and number its change; returns (number, cache line)."""
        await audit.record(
            c,
            actor=actor,
            action=action,
            entity="dnc",
            entity_id=e164,
            before=dict(before) if before else None,
            after=after,
            reason=reason,
        )
        line = cache_line(e164, after["scope"], after["expires_at"])
        return await dnc_changes.record(c, "list", line, 1), line

    async def remove(
        self, e164: str, *, actor: str, reason: str, consent_evidence: str | None = None
    ) -> dict[str, Any] | None:
        """End the active entry; None when there is none. Inside a customer refusal's
        protection only with `consent_evidence`, else RefusalProtected."""
        async with self._pool.acquire() as c, c.transaction():
            current = await entries.active_entry(c, e164)
            if current is None:
                return None
            now = await c.fetchval("SELECT now()")
            result = end(entries.protection(current), now=now, consent=consent_evidence is not None)
            if result is not None:
                raise refused(e164, result.protected_until, "ending the entry", "结束该条目")
            ended = await entries.end_entry(
                c, current["id"], ended_by=actor, reason=reason, consent_evidence=consent_evidence
            )
            await audit.record(
                c,
                actor=actor,
                action="unlist",
                entity="dnc",
                entity_id=e164,
                before=dict(ended),
                after=None,
                reason=reason,
            )
            line = cache_line(e164, None)
            seq = await dnc_changes.record(c, "unlist", line, 1)
        await self.publish(seq, line)
        return answer(ended)

    async def export(
        self,
        actor: str,
        start: Callable[[], Awaitable[None]],
        write: Callable[[bytes], Coroutine[Any, Any, None]],
    ) -> None:
        """Audit an export, then `start` the answer and `write` the active entries to it as
        CSV with a header (number,scope,source,reason,created_at,expires_at), by number."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                await audit.record(conn, actor=actor, action="export", entity="dnc")
            await start()
            async with conn.transaction(readonly=True):
                await conn.execute(BEIJING_SESSION)
                await conn.copy_from_query(
                    f"SELECT number, scope, source, reason, {beijing_sql('created_at')} AS "
                    f"created_at, {beijing_sql('expires_at')} AS expires_at FROM dnc_entries "
                    "WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > now()) "
                    "ORDER BY number",
                    output=write,
                    format="csv",
                    header=True,
                )

    async def history(self, e164: str) -> list[dict[str, Any]]:
        async with self._pool.acquire() as c:
            return [answer(r) for r in await entries.history(c, e164)]

    async def import_lines(
        self,
        blocks: AsyncIterator[tuple[int, list[str]]],
        *,
        scope: str,
        source: str,
        actor: str,
        progress: Progress | None = None,
        expected_lines: int = 0,
    ) -> ImportReport:
        """Import a CSV; `expected_lines` (an estimate, from the body's size) lets the
        cache grow its buckets once up front instead of crowding them."""
        async with self._pool.acquire() as c:
            listed = await c.fetchval("SELECT count(*) FROM dnc_entries WHERE ended_at IS NULL")
            await self._grow_cache(int(listed) + expected_lines)
            async with self._pool.acquire() as second:
                report = await import_entries(
                    [c, second],
                    self._cache.publish,
                    self.unapplied,
                    blocks,
                    scope=scope,
                    source=source,
                    created_by=actor,
                    progress=progress,
                    batch=batch_size(expected_lines),
                )
            await self._grow_cache(int(listed) + report.added)
            async with c.transaction():
                await audit.record(
                    c,
                    actor=actor,
                    action="import",
                    entity="dnc",
                    entity_id=source,
                    after={
                        "added": report.added,
                        "already_listed": report.already_listed,
                        "invalid": report.invalid_count,
                        "lines": report.lines,
                        "scope": scope,
                    },
                )
        return report

    async def _grow_cache(self, entries: int) -> None:
        """Room for a bulk load; without Redis the load goes on (into PostgreSQL, and the
        cache catches up later)."""
        try:
            await self._cache.ensure_capacity(entries)
        except (RedisError, OSError) as e:
            log.warning("do-not-call cache not grown for an import: %s", e)
