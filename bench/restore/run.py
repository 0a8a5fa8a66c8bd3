"""What Redis losing its data costs: the rebuild that puts it back from PostgreSQL.

    .venv/bin/python bench/restore/run.py [--per-day 300000] [--days 8] [--dnc 100000]

1. Makes its own database and Redis prefix (removed afterwards) and stores --days days of
   decisions, --per-day a day, as the pre-call check writes them: one in ten denied,
   every one with a request_id and a token id, the allowed ones marketing calls whose
   attempts count; and --dnc do-not-call entries.
2. Drops the whole Redis side (the do-not-call mirror, the attempt counters, the answers
   kept for retries) and times the rebuild until checks could be allowed again: the
   do-not-call copy, the attempt counters of the last 8 days and the answers of the last
   24 hours, each part timed.
3. Checks that every answer of the last day came back, and reports the Redis memory the
   answers take.

Checks are denied with gateway_degraded for as long as the rebuild runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import machine, scratch, unlink_prefix
from gateway.store.dnc_cache import DncCache
from gateway.store.keys import Keys
from gateway.store.postgres import create_pool
from gateway.store.redis import create_redis

# One day of decisions, `per_day` of them spread evenly, day `d` days back (0 = the last
# 24 hours, but for five minutes at each end: none comes due during the run). Built by
# PostgreSQL: the rows are what the check writes, not their speed.
_FILL = """
INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164, caller_id,
    agent_id, campaign_id, purpose, list_id, policy_version, token_name, token_id,
    request_id, valid_until)
SELECT gen_random_uuid(), at,
    CASE WHEN denied THEN 'deny' ELSE 'allow' END,
    CASE WHEN denied THEN '[{"code": "dnc_listed", "rule": "dnc", "message":
        "the number is on the do-not-call list (scope marketing)"}]'::jsonb
    ELSE '[]'::jsonb END,
    jsonb_build_object('callee', callee, 'caller_id', '4008001234', 'agent_id',
        'A' || (i % 200), 'purpose', 'marketing', 'campaign_id', 'term-life-q4',
        'script_id', 'term-life-intro', 'script_version', 1, 'list_id', 'leads-2026-11',
        'request_id', 'r-' || $1 || '-' || i, 'sold_by_agent_id', NULL),
    '+86' || callee, '4008001234', 'A' || (i % 200), 'term-life-q4', 'marketing',
    'leads-2026-11', 'r12', 'bench-dialer', 'tok-bench', 'r-' || $1 || '-' || i,
    at + interval '60 seconds'
FROM (
    SELECT i, i % 10 = 0 AS denied, '139' || lpad((i % 50000000)::text, 8, '0') AS callee,
        $3::timestamptz - make_interval(days => $1) - interval '5 min'
            - ((i - 0.5) * ((86400.0 - 600) / $2)) * interval '1 s'
            AS at
    FROM generate_series(1, $2) AS i
) AS d
"""

_DNC = """
INSERT INTO dnc_entries (number, scope, source, reason, created_by)
SELECT '+86138' || lpad(i::text, 8, '0'), 'marketing', 'supervisor', 'bench', 'bench'
FROM generate_series(1, $1) AS i
"""


def timed(
    store: dict[str, float], name: str, fn: Callable[..., Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    async def wrapper(*args: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        try:
            return await fn(*args, **kw)
        finally:
            store[name] = time.perf_counter() - t

    return wrapper


async def count_keys(redis: Any, pattern: str) -> tuple[int, list[bytes]]:
    count, sample = 0, []
    async for key in redis.scan_iter(match=pattern, count=5000):
        count += 1
        if len(sample) < 2000:
            sample.append(key)
    return count, sample


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        async with scratch(Path(tmp)) as s:
            pool = await create_pool(s.settings.database_url, min_size=2, max_size=4)
            redis = create_redis(s.settings.redis_url)
            keys = Keys(s.settings.redis_prefix)
            now = datetime.now(UTC)
            cache = DncCache(redis, pool, keys, clock=lambda: now)
            try:
                t = time.perf_counter()
                await pool.execute(_DNC, args.dnc, timeout=3600)
                for day in range(args.days):
                    await pool.execute(_FILL, day, args.per_day, now, timeout=3600)
                await pool.execute("VACUUM (ANALYZE) calls", timeout=3600)
                await pool.execute("VACUUM (ANALYZE) dnc_entries", timeout=3600)
                fill_s = time.perf_counter() - t
                print(f"stored in {fill_s:.0f} s", file=sys.stderr)
                await cache.rebuild()  # as a running gateway has it
                await unlink_prefix(redis, s.settings.redis_prefix)  # Redis restarts empty
                parts: dict[str, float] = {}
                cache._copy_generation = timed(parts, "dnc", cache._copy_generation)  # type: ignore[method-assign]
                cache.restore.restore_attempts = timed(  # type: ignore[method-assign]
                    parts, "attempts", cache.restore.restore_attempts
                )
                cache.restore.restore_answers = timed(  # type: ignore[method-assign]
                    parts, "answers", cache.restore.restore_answers
                )
                t = time.perf_counter()
                assert await cache.rebuild() is not None
                rebuild_s = time.perf_counter() - t
                answers, sample = await count_keys(redis, keys.prefix + "idem:*")
                attempts, _ = await count_keys(redis, keys.prefix + "att:*")
                pipe = redis.pipeline(transaction=False)
                for key in sample:
                    pipe.memory_usage(key, samples=0)
                sizes = [v or 0 for v in await pipe.execute()]
            finally:
                await redis.aclose()
                await pool.close()
        expected = args.per_day  # the last 24 hours: day 0
        info = machine()
        per_answer = sum(sizes) / max(len(sizes), 1)
        lines = [
            f"### Redis lost, rebuilt from PostgreSQL ({time.strftime('%Y-%m-%d %H:%M')} UTC)",
            "",
            f"Command: `{' '.join(['.venv/bin/python', 'bench/restore/run.py', *sys.argv[1:]])}`",
            "",
            f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, kernel "
            f"{info['kernel']}, Python {info['python']}, {info['postgresql']}, {info['redis']}",
            "",
            f"Stored: {args.days} days of {args.per_day:,} decisions a day (one in ten denied,"
            f" each with a request_id), {args.dnc:,} do-not-call entries.",
            "",
            "| part | seconds |",
            "| --- | ---: |",
            f"| do-not-call copy ({args.dnc:,} entries) | {parts['dnc']:.2f} |",
            f"| attempt counters (8 days of allowed decisions) | {parts['attempts']:.2f} |",
            f"| answers for retries (24 hours: {answers:,} of {expected:,}) "
            f"| {parts['answers']:.2f} |",
            f"| the whole rebuild, until checks may be allowed | {rebuild_s:.2f} |",
            "",
            f"Attempt counters put back: {attempts:,} numbers. Redis memory of an answer: "
            f"{per_answer:.0f} bytes (MEMORY USAGE of {len(sizes):,} of them), "
            f"{per_answer * answers / 2**20:.0f} MiB for the day.",
        ]
        print("\n".join(lines))
        if answers != expected:
            raise SystemExit(f"{answers:,} answers put back, {expected:,} expected")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--per-day", type=int, default=300_000)
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--dnc", type=int, default=100_000)
    asyncio.run(main(parser.parse_args()))
