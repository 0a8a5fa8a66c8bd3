"""Do-not-call entries in PostgreSQL. An entry is never erased: removing or replacing it
sets its end (when, who, why, and the customer's consent when one was needed) and the
history stays. An entry that took over from an active one names it (`supersedes`), so
how long a number has been blocked can be followed back; `refusal_made_at` is when the
newest customer refusal it holds was made (its protection runs from then)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import asyncpg

from gateway.core.aliases import Conn
from gateway.core.errors import Unavailable
from gateway.policy.dnc_merge import Protection, merge
from gateway.policy.types import DncScope

REFUSAL_SOURCE = "customer_refusal"
SUPERSEDED = "superseded by a new entry"


@dataclass(frozen=True)
class Listing:
    entry: asyncpg.Record
    created: bool  # False when the listing repeated the active entry, which was kept
    before: asyncpg.Record | None = None  # the active entry it merged with, now ended


def protection(entry: asyncpg.Record | Mapping[str, Any]) -> Protection:
    return Protection(entry["scope"], entry["expires_at"], entry["refusal_made_at"])


# Every writer of one number's entries but an import batch takes this lock first, so two
# requests for the same number (a PUT and an opt-out, two PUTs) run one after the other.
_NUMBER_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gateway.dnc_number'), hashtext($1))"

# Rounds of reading the active entry again after an import batch (which does not take the
# number's lock) ended or listed the number under a request's feet.
_ROUNDS = 5


class ListedMeanwhile(Unavailable):
    """The number was listed by another writer too often while this one tried: nothing
    was changed, and the client may try again."""


async def active_entry(conn: Conn, e164: str) -> asyncpg.Record | None:
    """The number's active entry, locked for the caller's transaction (with the number's
    lock); one whose expiry has passed is ended first (`expired`) and None is returned."""
    await conn.execute(_NUMBER_LOCK, e164)
    for _ in range(_ROUNDS):
        current = await conn.fetchrow(
            "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL FOR UPDATE", e164
        )
        if current is None:
            # The entry waited for may have been ended by an import batch that listed the
            # number anew: a new statement sees what that batch committed.
            if await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE number = $1 AND ended_at IS NULL)",
                e164,
            ):
                continue
            return None
        if current["expires_at"] is not None:
            if current["expires_at"] <= await conn.fetchval("SELECT now()"):
                await conn.execute(
                    "UPDATE dnc_entries SET ended_at = expires_at, ended_by = 'system', "
                    "end_reason = 'expired' WHERE id = $1",
                    current["id"],
                )
                return None
        return cast(asyncpg.Record, current)
    raise ListedMeanwhile(f"{e164} was listed meanwhile by another writer, repeatedly")


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
    """List a number (inside the caller's transaction), merged with its active entry
    (`gateway.policy.dnc_merge.merge`): the active entry is ended as superseded and the new
    one carries the wider scope and the later expiry. A listing that repeats the active
    entry (same source, reason and evidence, nothing to widen) keeps it as it is, except a
    customer's refusal: a refusal made again is recorded, and its protection runs anew."""
    for _ in range(_ROUNDS):
        current = await active_entry(conn, e164)
        now = await conn.fetchval("SELECT now()")
        refusal_at = now if source == REFUSAL_SOURCE else None
        asked = Protection(cast(DncScope, scope), expires_at, refusal_at)
        merged = merge(protection(current), asked) if current is not None else asked
        if current is not None:
            same = (current["source"], current["reason"], current["evidence_call_id"]) == (
                source,
                reason,
                evidence_call_id,
            )
            unchanged = (merged.scope, merged.expires_at, merged.refusal_at) == (
                current["scope"],
                current["expires_at"],
                current["refusal_made_at"],
            )
            if same and unchanged:
                return Listing(current, created=False)
            current = await end_entry(conn, current["id"], ended_by=created_by)
        row = await insert_entry(
            conn,
            e164,
            merged,
            source=source,
            created_by=created_by,
            reason=reason,
            evidence_call_id=evidence_call_id,
            supersedes=current["id"] if current is not None else None,
        )
        if row is not None:
            return Listing(row, created=True, before=current)
        # An import batch listed the number after it was read: merge with that.
    raise ListedMeanwhile(f"{e164} was listed meanwhile by another writer, repeatedly")


async def end_entry(
    conn: Conn,
    entry_id: int,
    *,
    ended_by: str,
    reason: str = SUPERSEDED,
    consent_evidence: str | None = None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "UPDATE dnc_entries SET ended_at = now(), ended_by = $2, end_reason = $3, "
        "consent_evidence = $4 WHERE id = $1 RETURNING *",
        entry_id,
        ended_by,
        reason,
        consent_evidence,
    )
    assert row is not None
    return cast(asyncpg.Record, row)


async def insert_entry(
    conn: Conn,
    e164: str,
    entry: Protection,
    *,
    source: str,
    created_by: str,
    reason: str | None,
    evidence_call_id: uuid.UUID | None = None,
    supersedes: int | None = None,
) -> asyncpg.Record | None:
    """The new active entry; None when another writer (an import batch, which does not take
    the number's lock) listed the number after the caller read it: nothing was inserted."""
    return await conn.fetchrow(
        """INSERT INTO dnc_entries (number, scope, source, reason, created_by, expires_at,
                                    evidence_call_id, supersedes, refusal_made_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (number) WHERE ended_at IS NULL DO NOTHING RETURNING *""",
        e164,
        entry.scope,
        source,
        reason,
        created_by,
        entry.expires_at,
        evidence_call_id,
        supersedes,
        entry.refusal_at,
    )


async def history(conn: Conn, e164: str) -> list[asyncpg.Record]:
    rows = await conn.fetch(
        # One branch per partial index: the active entry, and the ended ones.
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL UNION ALL "
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NOT NULL ORDER BY id",
        e164,
    )
    return list(rows)


# From each number's active entry back through the entries it took over from, as long as
# they blocked the same purposes: the last one reached made the blocking that is in force.
_LISTED_SINCE = """
WITH RECURSIVE chain AS (
    SELECT number, supersedes, created_at, source, reason, 0 AS depth
    FROM dnc_entries
    WHERE number = ANY($1::text[]) AND ended_at IS NULL AND scope = ANY($2::text[])
      AND (expires_at IS NULL OR expires_at > now())
  UNION ALL
    SELECT c.number, p.supersedes, p.created_at, p.source, p.reason, c.depth + 1
    FROM chain c JOIN dnc_entries p ON p.id = c.supersedes
    WHERE p.scope = ANY($2::text[]) AND c.depth < $3
)
SELECT DISTINCT ON (number) number, created_at, source, reason
FROM chain ORDER BY number, depth DESC
"""
MAX_CHAIN = 1000


async def listed_since(
    conn: Conn, numbers: Sequence[str], scopes: Sequence[str]
) -> dict[str, asyncpg.Record]:
    """For each number whose active entry has one of `scopes`: the entry that began the
    unbroken blocking by those scopes (created_at, source, reason), by number."""
    rows = await conn.fetch(_LISTED_SINCE, list(numbers), list(scopes), MAX_CHAIN)
    return {r["number"]: r for r in rows}
