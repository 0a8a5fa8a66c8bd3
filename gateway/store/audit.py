"""The audit log: append-only, each entry carrying the hash of the one before."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.core.aliases import Conn
from gateway.core.times import in_beijing

# Serialises appends so the chain has one head; held only until the transaction ends.
AUDIT_LOCK_KEY = 0x67772D6175646974
GENESIS = "0" * 64


def entry_hash(
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None,
    before: Any,
    after: Any,
    reason: str | None,
) -> str:
    body = json.dumps(
        [
            prev_hash,
            at.astimezone(UTC).isoformat(),
            actor,
            action,
            entity,
            entity_id,
            before,
            after,
            reason,
        ],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


async def record(
    conn: Conn,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | None = None,
    before: Any = None,
    after: Any = None,
    reason: str | None = None,
) -> int:
    """Append one entry inside the caller's transaction; returns its sequence number."""
    # Round-trip through JSON so the hash covers exactly what jsonb will give back; times
    # as the answers write them (Beijing time).
    before = None if before is None else json.loads(msgspec.json.encode(in_beijing(before)))
    after = None if after is None else json.loads(msgspec.json.encode(in_beijing(after)))
    await conn.execute("SELECT pg_advisory_xact_lock($1)", AUDIT_LOCK_KEY)
    prev = await conn.fetchval("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    prev_hash = prev or GENESIS
    at = datetime.now(UTC)
    digest = entry_hash(prev_hash, at, actor, action, entity, entity_id, before, after, reason)
    seq: int = await conn.fetchval(
        """INSERT INTO audit_log (at, actor, action, entity, entity_id, before, after, reason,
                                  prev_hash, hash)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING seq""",
        at,
        actor,
        action,
        entity,
        entity_id,
        before,
        after,
        reason,
        prev_hash,
        digest,
    )
    return seq


@dataclass(frozen=True)
class ChainReport:
    checked: int
    broken_at: int | None
    problem: str | None


async def verify(conn: Conn, batch: int = 5000) -> ChainReport:
    """Walk the chain in order; report the first entry whose link or content does not match."""
    prev_hash = GENESIS
    checked = 0
    last_seq = 0
    while True:
        rows = await conn.fetch(
            "SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", last_seq, batch
        )
        if not rows:
            return ChainReport(checked, None, None)
        for r in rows:
            if r["prev_hash"] != prev_hash:
                return ChainReport(checked, r["seq"], "prev_hash does not match the entry before")
            expected = entry_hash(
                r["prev_hash"],
                r["at"],
                r["actor"],
                r["action"],
                r["entity"],
                r["entity_id"],
                r["before"],
                r["after"],
                r["reason"],
            )
            if expected != r["hash"]:
                return ChainReport(checked, r["seq"], "entry content does not match its hash")
            prev_hash = r["hash"]
            checked += 1
            last_seq = r["seq"]
