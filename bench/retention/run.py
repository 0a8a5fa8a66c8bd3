"""The retention job's rate over many recordings.

    .venv/bin/python bench/retention/run.py [--recordings 100000] [--size 32768]

Makes its own database and Redis prefix (removed afterwards), writes --recordings calls
made four years ago, each with a recording of --size bytes stored twice on disk (laid
out by date as the gateway does) and its metadata row, puts a legal hold on 1% of them,
then runs the retention job once and reports recordings (and files) deleted per second.
It then checks that every unheld recording is gone from disk and database, that every
held one is intact, and that each deletion left a tombstone.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import machine, scratch
from gateway.jobs.catalog import JOBS
from gateway.jobs.runner import JobContext, run_job
from gateway.store.dnc_cache import DncCache
from gateway.store.keys import Keys
from gateway.store.postgres import connect, create_pool
from gateway.store.recording_storage import FilesystemStore
from gateway.store.redis import create_redis


async def populate(url: str, store: FilesystemStore, count: int, size: int) -> list[uuid.UUID]:
    audio = os.urandom(size)
    digest = hashlib.sha256(audio).hexdigest()
    made = datetime.now(UTC) - timedelta(days=4 * 365)
    ids = [uuid.uuid4() for _ in range(count)]
    conn = await connect(url)
    try:
        await conn.execute(
            "INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164, "
            "caller_id, agent_id, campaign_id, purpose, policy_version, token_name, "
            "valid_until) SELECT id, $2, 'allow', '[]', '{}', '+8613800138000', "
            "'+864008001234', 'A1', 'c', 'marketing', 'r1', 'bench', $2 "
            "FROM unnest($1::uuid[]) AS id",
            ids,
            made,
        )
        keys = [store.key_for(i, made, "audio/wav") for i in ids]
        for copy in store.roots:
            store.path(keys[0], copy).parent.mkdir(parents=True, exist_ok=True)
        for key in keys:
            for copy in store.roots:
                store.path(key, copy).write_bytes(audio)
        await conn.copy_records_to_table(
            "recordings",
            records=[
                (i, "stored", k, digest, size, "audio/wav", "bench", made, made)
                for i, k in zip(ids, keys, strict=True)
            ],
            columns=[
                "call_id",
                "state",
                "key",
                "sha256",
                "size",
                "content_type",
                "token_name",
                "started_at",
                "stored_at",
            ],
        )
        await conn.executemany(
            "INSERT INTO call_holds (call_id, hold, reason, set_by) VALUES ($1, true, 'x', 'b')",
            [(i,) for i in ids[::100]],
        )
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    return ids


def count_files(root: Path) -> int:
    return sum(1 for _ in root.rglob("*.wav"))


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        async with scratch(Path(tmp)) as s:
            store = FilesystemStore(s.settings.recordings_dir, s.settings.backup_dir)
            t = time.perf_counter()
            ids = await populate(s.settings.database_url, store, args.recordings, args.size)
            print(
                f"populated {len(ids):,} recordings in {time.perf_counter() - t:.0f} s",
                file=sys.stderr,
            )
            pool = await create_pool(s.settings.database_url, min_size=2, max_size=4)
            redis = create_redis(s.settings.redis_url)
            try:
                dnc = DncCache(redis, pool, Keys(s.settings.redis_prefix))
                now = datetime.now(UTC)

                def context(dry: bool) -> JobContext:
                    return JobContext(pool, redis, dnc, s.settings, now, dry)

                started = time.perf_counter()
                result = await run_job(JOBS["retention"], context, pool, scheduled_at=now)
                elapsed = time.perf_counter() - started
                assert result.outcome == "done", result
                held = set(ids[::100])
                left = await pool.fetchval("SELECT count(*) FROM recordings")
                tombs = await pool.fetchval(
                    "SELECT count(*) FROM recording_tombstones WHERE files_removed"
                )
            finally:
                await redis.aclose()
                await pool.close()
            on_disk = count_files(Path(s.settings.recordings_dir))
            assert left == len(held) == on_disk, (left, len(held), on_disk)
            assert tombs == len(ids) - len(held)
            deleted = result.counts["deleted"]
            info = machine()
            print(
                "\n".join(
                    [
                        f"### Retention job ({time.strftime('%Y-%m-%d')})",
                        "",
                        f"Command: `.venv/bin/python bench/retention/run.py --recordings "
                        f"{args.recordings} --size {args.size}`",
                        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, kernel "
                        f"{info['kernel']}, Python {info['python']}, {info['postgresql']}",
                        "",
                        f"{deleted:,} recordings deleted ({2 * deleted:,} files, "
                        f"{len(held):,} held kept) in {elapsed:.1f} s: "
                        f"**{deleted / elapsed:,.0f} recordings/s** "
                        f"({2 * deleted / elapsed:,.0f} files/s), each with its tombstone and an "
                        "audit entry per batch of 1,000.",
                    ]
                )
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=32_768)
    uvloop.run(main(parser.parse_args()))
