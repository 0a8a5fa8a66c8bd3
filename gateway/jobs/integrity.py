"""The integrity job: re-hash recordings (every one stored since the last run, plus a
rotating sample of older ones), compare both copies with the stored SHA-256, restore a
bad or missing copy from the good one, and raise a compliance exception when both are
bad. Partial files left by uploads that died are swept."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass

from gateway.jobs.retention_jobs import storage
from gateway.jobs.runner import Counts, JobContext, JobSpec
from gateway.services.call_events import record_exception
from gateway.store.recording_storage import FilesystemStore, file_sha256

SAMPLE = 2000  # older recordings re-checked per run, in rotation
STRAY_PARTIAL_SECONDS = 3600


@dataclass(frozen=True)
class Verdict:
    good: list[str]
    bad: list[str]


def _judge(store: FilesystemStore, key: str, sha256: str) -> Verdict:
    good: list[str] = []
    bad: list[str] = []
    for copy in store.roots:
        path = store.path(key, copy)
        ok = path.is_file() and file_sha256(path) == sha256
        (good if ok else bad).append(copy)
    return Verdict(good, bad)


def _restore(store: FilesystemStore, key: str, source: str, target: str) -> None:
    src, dst = store.path(key, source), store.path(key, target)
    dst.parent.mkdir(parents=True, exist_ok=True)
    partial = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.partial")
    try:
        with src.open("rb") as f, partial.open("wb") as out:
            while chunk := f.read(256 * 1024):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, dst)
    finally:
        partial.unlink(missing_ok=True)


def _sweep_partials(store: FilesystemStore) -> int:
    cutoff = time.time() - STRAY_PARTIAL_SECONDS
    swept = 0
    for root in store.roots.values():
        if not root.exists():
            continue
        for path in root.rglob(".*.partial"):
            if path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                swept += 1
    return swept


async def _last_run_started(ctx: JobContext) -> object:
    return await ctx.pool.fetchval(
        "SELECT max(started_at) FROM job_runs WHERE job = 'integrity' AND outcome = 'done' "
        "AND NOT dry_run"
    )


async def run_integrity(ctx: JobContext) -> Counts:
    store = storage(ctx)
    since = await _last_run_started(ctx)
    fresh = await ctx.pool.fetch(
        "SELECT call_id, key, sha256 FROM recordings WHERE state = 'stored' "
        "AND ($1::timestamptz IS NULL OR stored_at >= $1) ORDER BY call_id",
        since,
    )
    cursor = await ctx.pool.fetchval("SELECT call_id FROM integrity_cursor")
    sample = await ctx.pool.fetch(
        "SELECT call_id, key, sha256 FROM recordings WHERE state = 'stored' "
        "AND ($1::timestamptz IS NOT NULL AND stored_at < $1) "
        "AND ($2::uuid IS NULL OR call_id > $2) ORDER BY call_id LIMIT $3",
        since,
        cursor,
        SAMPLE,
    )
    counts = {"checked": 0, "restored": 0, "both_bad": 0, "swept_partials": 0}
    for row in [*fresh, *sample]:
        verdict = await asyncio.to_thread(_judge, store, row["key"], row["sha256"])
        counts["checked"] += 1
        if not verdict.bad:
            continue
        if not verdict.good:
            counts["both_bad"] += 1
            if not ctx.dry_run:
                await record_exception(
                    ctx.pool,
                    "recording_corrupt",
                    row["call_id"],
                    {"key": row["key"], "sha256": row["sha256"], "bad": verdict.bad},
                )
            continue
        counts["restored"] += len(verdict.bad)
        if not ctx.dry_run:
            for copy in verdict.bad:
                await asyncio.to_thread(_restore, store, row["key"], verdict.good[0], copy)
    if not ctx.dry_run:
        # Rotate: go on after the last sampled one, or start over when the end is reached.
        next_cursor = sample[-1]["call_id"] if len(sample) == SAMPLE else None
        if next_cursor is None:
            await ctx.pool.execute("DELETE FROM integrity_cursor")
        else:
            await ctx.pool.execute(
                "INSERT INTO integrity_cursor (id, call_id) VALUES (true, $1) "
                "ON CONFLICT (id) DO UPDATE SET call_id = EXCLUDED.call_id",
                next_cursor,
            )
        counts["swept_partials"] = await asyncio.to_thread(_sweep_partials, store)
    return counts


INTEGRITY = JobSpec(
    name="integrity",
    cron="0 3 * * *",
    run=run_integrity,
    summary="re-hash recordings, restore a bad copy from the good one, flag both bad",
)
