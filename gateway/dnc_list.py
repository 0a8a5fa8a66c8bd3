"""The do-not-call list as the product uses it: every change is committed to PostgreSQL
first (with its audit entry), then mirrored to the Redis cache before the caller hears
back, so every gateway process denies the number from the next check on. If the mirror
fails, the cache is marked incomplete (checks deny as degraded) until it is rebuilt."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from redis.exceptions import RedisError

from gateway.policy.retention import REFUSAL_MIN_DAYS
from gateway.store import audit
from gateway.store import dnc as entries
from gateway.store.dnc_cache import DncCache
from gateway.store.dnc_import import ImportReport, Progress, batch_size, import_entries

log = logging.getLogger("gateway.dnc")


class RefusalTooShort(ValueError):
    pass


@dataclass(frozen=True)
class Change:
    entry: dict[str, Any]
    created: bool  # a new entry was made (201), else an existing one answered (200)


def check_refusal_expiry(source: str, expires_at: datetime | None, made_at: datetime) -> None:
    if source == "customer_refusal" and expires_at is not None:
        earliest = made_at + timedelta(days=REFUSAL_MIN_DAYS)
        if expires_at < earliest:
            raise RefusalTooShort(
                f"a customer's refusal must stand at least {REFUSAL_MIN_DAYS} days "
                f"(expires_at no earlier than {earliest.date().isoformat()})"
            )


class DncList:
    def __init__(self, pool: asyncpg.Pool, cache: DncCache) -> None:
        self._pool = pool
        self._cache = cache

    async def _mirror(self, e164: str, scope: str | None, expires_at: datetime | None) -> None:
        try:
            await self._cache.apply(e164, scope, expires_at)
        except (RedisError, OSError) as e:
            log.error("dnc change not mirrored to the cache (%s); marking it incomplete", e)
            await self._cache.invalidate()

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
        """List a number (or change its active entry's scope or expiry)."""
        async with self._pool.acquire() as c, c.transaction():
            now = await c.fetchval("SELECT now()")
            check_refusal_expiry(source, expires_at, now)
            before = await entries.active_entry(c, e164)
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
            after = dict(listing.entry)
            if listing.created:
                await audit.record(
                    c,
                    actor=actor,
                    action="list",
                    entity="dnc",
                    entity_id=e164,
                    before=dict(before) if before else None,
                    after=after,
                    reason=reason,
                )
        if listing.created:
            await self._mirror(e164, after["scope"], after["expires_at"])
        return Change(after, created=before is None and listing.created)

    async def remove(self, e164: str, *, actor: str, reason: str) -> dict[str, Any] | None:
        async with self._pool.acquire() as c, c.transaction():
            ended = await entries.end_entry(c, e164, ended_by=actor, reason=reason)
            if ended is None:
                return None
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
        await self._mirror(e164, None, None)
        return dict(ended)

    async def history(self, e164: str) -> list[dict[str, Any]]:
        async with self._pool.acquire() as c:
            return [dict(r) for r in await entries.history(c, e164)]

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
            await self._cache.ensure_capacity(int(listed) + expected_lines)
            async with self._pool.acquire() as second:
                report = await import_entries(
                    [c, second],
                    self._cache,
                    blocks,
                    scope=scope,
                    source=source,
                    created_by=actor,
                    progress=progress,
                    batch=batch_size(expected_lines),
                )
            await self._cache.ensure_capacity(int(listed) + report.added)
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
