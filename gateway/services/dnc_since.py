"""Since when and why a number is on the do-not-call list, for the message of a check or
scrub denied `dnc_listed`. Looked up in PostgreSQL after the verdict and only for those,
so an allowed call never waits for it; within a short time, and when the lookup fails
or is slow the message stays as it was. The decision never depends on it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from gateway.policy import Purpose, ScrubResult, Verdict
from gateway.policy.facts import DNC_BLOCKING_SCOPES
from gateway.policy.rules.dnc import ListedSince, is_listed, with_listed_since
from gateway.store import dnc_entries
from gateway.store.postgres import connect

log = logging.getLogger("gateway.dnc")
CHINA = ZoneInfo("Asia/Shanghai")
CHECK_SECONDS = 0.25  # at most, and at most a third of what is left of the check's time
SCRUB_SECONDS = 2.0  # per chunk of a scrub
SCRUB_CHUNK = 2000  # numbers per query


class ListedSinceLookup:
    """With `dsn`, lookups go over a connection of the lookup's own, one at a time: a
    pooled connection costs about three times the CPU (it is reset on every release), and
    a denied check pays for this. A lookup that finds it busy takes a pooled one."""

    def __init__(self, pool: asyncpg.Pool[Any], dsn: str | None = None) -> None:
        self._pool = pool
        self._dsn = dsn
        self._own: asyncpg.Connection[Any] | None = None
        self._busy = False

    async def _rows(
        self, numbers: Sequence[str], scopes: Sequence[str]
    ) -> dict[str, asyncpg.Record]:
        if self._dsn is None or self._busy:
            async with self._pool.acquire() as conn:
                return await dnc_entries.listed_since(conn, numbers, scopes)
        self._busy = True
        try:
            if self._own is None or self._own.is_closed():
                self._own = await connect(self._dsn)
            return await dnc_entries.listed_since(self._own, numbers, scopes)
        except BaseException:
            # Cut off mid-query (its time ran out) or broken: never used again.
            self.close()
            raise
        finally:
            self._busy = False

    def close(self) -> None:
        if self._own is not None:
            self._own.terminate()
            self._own = None

    async def find(
        self, numbers: Sequence[str], purpose: Purpose, within: float
    ) -> dict[str, ListedSince]:
        """By number; a number missing when its entry no longer blocks `purpose` (the
        cache judged before PostgreSQL moved on), or everything when the lookup failed."""
        if not numbers or within <= 0:
            return {}
        try:
            async with asyncio.timeout(within):
                rows = await self._rows(numbers, DNC_BLOCKING_SCOPES[purpose])
        except Exception as e:  # a message without "since" rather than no answer
            log.warning("do-not-call since-when not looked up: %s", str(e) or type(e).__name__)
            return {}
        return {
            number: ListedSince(
                row["created_at"].astimezone(CHINA).date(), row["source"], row["reason"]
            )
            for number, row in rows.items()
        }

    async def explain(
        self, verdict: Verdict, e164: str | None, purpose: Purpose, left: float
    ) -> Verdict:
        """The verdict, its `dnc_listed` message saying since when and why when found
        within `left` seconds (a third of it, at most CHECK_SECONDS)."""
        if e164 is None or not is_listed(verdict.reasons):
            return verdict
        found = await self.find([e164], purpose, min(CHECK_SECONDS, left / 3))
        if e164 not in found:
            return verdict
        return msgspec.structs.replace(
            verdict, reasons=with_listed_since(verdict.reasons, found[e164])
        )

    async def explain_scrub(
        self, results: list[ScrubResult], purpose: Purpose
    ) -> list[ScrubResult]:
        """The results, each `dnc_listed` message saying since when and why; one query per
        SCRUB_CHUNK listed numbers."""
        listed = sorted({r.callee_e164 for r in results if r.callee_e164 and is_listed(r.reasons)})
        found: dict[str, ListedSince] = {}
        for start in range(0, len(listed), SCRUB_CHUNK):
            found.update(
                await self.find(listed[start : start + SCRUB_CHUNK], purpose, SCRUB_SECONDS)
            )
        if not found:
            return results
        return [
            msgspec.structs.replace(r, reasons=with_listed_since(r.reasons, found[r.callee_e164]))
            if r.callee_e164 in found
            else r
            for r in results
        ]
