"""The retention job: delete recordings (both copies) whose retention date has passed,
unless a legal hold or a dispute (open, or closed less than two years ago) keeps the
call. Each deletion leaves a tombstone and an audit entry.

Order, so that a crash anywhere leaves nothing inconsistent: one transaction drops the
recording rows and writes their tombstones (files_removed = false); then the files go;
then the tombstones are marked. A run first finishes tombstones an earlier run left
unmarked. No row ever points at a missing file, and nothing is deleted twice."""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.jobs.runner import Counts, JobContext, JobSpec
from gateway.store.recording_storage import FilesystemStore

BATCH = 1000
DRY_RUN_SAMPLE = 20

_UNTIL = (
    "call_retention_until(c.call_id, c.created_at, c.purpose, "
    "call_visited_policy(c.call_id, c.purpose, c.request), $2)"
)
# Kept whatever the date: a legal hold, or a dispute open or closed less than two years ago.
_KEPT = """
    EXISTS (SELECT 1 FROM call_holds h WHERE h.call_id = r.call_id AND h.hold)
    OR call_kept_by_dispute(r.call_id, $1)
"""

_DUE = f"""
    SELECT r.call_id, {_UNTIL} AS until
    FROM recordings r JOIN calls c USING (call_id)
    WHERE r.state = 'stored' AND {_UNTIL} < $1 AND NOT ({_KEPT})
"""

# The same conditions again at the moment of deletion: a hold, a dispute or a policy
# added since the candidates were read wins.
_DROP = f"""
    WITH gone AS (
        DELETE FROM recordings r USING calls c
        WHERE r.call_id = ANY($3::uuid[]) AND c.call_id = r.call_id AND r.state = 'stored'
          AND {_UNTIL} < $1 AND NOT ({_KEPT})
        RETURNING r.call_id, r.key, r.sha256, r.size, {_UNTIL} AS until
    )
    INSERT INTO recording_tombstones (call_id, key, sha256, size, retention_until, reason)
    SELECT call_id, key, sha256, size, until, $4 FROM gone
    RETURNING call_id, key
"""


def storage(ctx: JobContext) -> FilesystemStore:
    return FilesystemStore(ctx.settings.recordings_dir, ctx.settings.backup_dir)


async def _remove_files(store: FilesystemStore, keys: list[str]) -> None:
    def remove() -> None:
        for key in keys:
            for copy in store.roots:
                store.path(key, copy).unlink(missing_ok=True)

    await asyncio.to_thread(remove)


async def _finish_pending(ctx: JobContext, store: FilesystemStore) -> int:
    finished = 0
    while True:
        rows = await ctx.pool.fetch(
            "SELECT call_id, key FROM recording_tombstones WHERE NOT files_removed LIMIT $1",
            BATCH,
        )
        if not rows:
            return finished
        await _remove_files(store, [r["key"] for r in rows])
        await ctx.pool.execute(
            "UPDATE recording_tombstones SET files_removed = true WHERE call_id = ANY($1)",
            [r["call_id"] for r in rows],
        )
        finished += len(rows)


async def run_retention(ctx: JobContext) -> Counts:
    no_sale_days = await _no_sale_days(ctx)
    if ctx.dry_run:
        due = await ctx.pool.fetch(
            f"{_DUE} ORDER BY until LIMIT $3", ctx.now, no_sale_days, DRY_RUN_SAMPLE
        )
        total = await ctx.pool.fetchval(f"SELECT count(*) FROM ({_DUE}) d", ctx.now, no_sale_days)
        return {
            "would_delete": total,
            "first": [{"call_id": str(r["call_id"]), "retention_until": r["until"]} for r in due],
        }
    store = storage(ctx)
    resumed = await _finish_pending(ctx, store)
    deleted = 0
    reason = f"retention date passed (no-sale days {no_sale_days})"
    async with ctx.pool.acquire() as reader, reader.transaction(readonly=True):
        batch: list[Any] = []
        async for row in reader.cursor(_DUE, ctx.now, no_sale_days, prefetch=BATCH):
            batch.append(row["call_id"])
            if len(batch) >= BATCH:
                deleted += await _delete_batch(ctx, store, batch, no_sale_days, reason)
                batch = []
        if batch:
            deleted += await _delete_batch(ctx, store, batch, no_sale_days, reason)
    return {"deleted": deleted, "resumed": resumed}


async def _delete_batch(
    ctx: JobContext,
    store: FilesystemStore,
    call_ids: list[Any],
    no_sale_days: int,
    reason: str,
) -> int:
    from gateway.store import audit

    async with ctx.pool.acquire() as conn, conn.transaction():
        gone = await conn.fetch(_DROP, ctx.now, no_sale_days, call_ids, reason)
        if gone:
            await audit.record(
                conn,
                actor="system",
                action="delete",
                entity="recording",
                after={"call_ids": [str(r["call_id"]) for r in gone]},
                reason=reason,
            )
    if gone:
        await _remove_files(store, [r["key"] for r in gone])
        await ctx.pool.execute(
            "UPDATE recording_tombstones SET files_removed = true WHERE call_id = ANY($1)",
            [r["call_id"] for r in gone],
        )
    return len(gone)


async def _no_sale_days(ctx: JobContext) -> int:
    from gateway.store.registry_rows import load_policy

    return (await load_policy(ctx.pool)).retention.no_sale_days


RETENTION = JobSpec(
    name="retention",
    cron="30 2 * * *",
    run=run_retention,
    summary="delete recordings past their retention date (not held or disputed); tombstones",
)
