"""The do-not-call list at scale: import rate, Redis memory, cache rebuild, scrub rate.

    .venv/bin/python bench/dnc/run.py [--numbers 10000000] [--scrub 1000000]

1. Makes its own database and Redis prefix (removed afterwards) and writes a CSV of
   --numbers distinct random mainland mobiles (`number,reason`).
2. Imports it through `gateway dnc import FILE`'s own code (streamed, COPY batches,
   mirrored to Redis batch by batch) and reports numbers per second.
3. Measures the Redis memory of the cache (MEMORY USAGE of every key of the live
   generation) per listed number, and projects 100 million (the bucket count doubles
   with the list, so the cost per number stays).
4. Drops the cache and rebuilds it from PostgreSQL, timed.
5. After a VACUUM of the freshly loaded table (which autovacuum would otherwise run
   during the scrub), scrubs a list of --scrub numbers (half of them listed) over HTTP
   against a `gateway serve` process of its own: as one scrub job (CSV upload, job run,
   CSV result downloaded) and as `POST /v1/scrub` requests of 10,000; numbers per second
   for each, and every answer checked.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import random
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import Scratch, machine, scratch, serving_process
from gateway.dnc_cli import import_file
from gateway.store.dnc_cache import DncCache
from gateway.store.keys import Keys
from gateway.store.postgres import create_pool
from gateway.store.redis import create_redis

PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "199",
)


def write_numbers(path: Path, count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    seen: set[int] = set()
    sample: list[str] = []
    with path.open("w") as f:
        f.write("number,reason\n")
        while len(seen) < count:
            n = int(rng.choice(PREFIXES)) * 100_000_000 + rng.randrange(100_000_000)
            if n in seen:
                continue
            seen.add(n)
            f.write(f"{n},bench\n")
            if len(sample) < 1_000_000 and rng.random() < 0.2:
                sample.append(str(n))
    return sample


async def redis_bytes(redis: Any, keys: Keys, generation: int) -> tuple[int, int]:
    total = count = 0
    pattern = keys.dnc_bucket_prefix(generation) + "*"
    batch: list[bytes] = []

    async def measure(names: list[bytes]) -> int:
        pipe = redis.pipeline(transaction=False)
        for name in names:
            pipe.memory_usage(name, samples=0)
        return sum(v or 0 for v in await pipe.execute())

    async for key in redis.scan_iter(match=pattern, count=5000):
        batch.append(key)
        count += 1
        if len(batch) >= 5000:
            total += await measure(batch)
            batch = []
    if batch:
        total += await measure(batch)
    return total, count


def machine_busy_ticks() -> int:
    """Clock ticks all cores spent on anything but idling or waiting for the disk."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4]


@dataclass
class CpuSplit:
    """CPU seconds spent during a stretch: the whole machine's busy time (/proc/stat),
    this process (the importer), and Redis (INFO cpu); the rest is PostgreSQL (backends,
    WAL writer, checkpointer) and the kernel, nothing else running."""

    machine: float
    importer: float
    redis: float

    @staticmethod
    async def now(redis: Any) -> CpuSplit:
        info = await redis.info("cpu")
        busy = machine_busy_ticks()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return CpuSplit(
            busy / os.sysconf("SC_CLK_TCK"),
            usage.ru_utime + usage.ru_stime,
            float(info["used_cpu_user"]) + float(info["used_cpu_sys"]),
        )

    def since(self, before: CpuSplit) -> CpuSplit:
        return CpuSplit(
            self.machine - before.machine,
            self.importer - before.importer,
            self.redis - before.redis,
        )

    def text(self, wall: float) -> str:
        cores = os.cpu_count() or 1
        rest = self.machine - self.importer - self.redis
        return (
            f"{self.machine:.0f} s of the {wall * cores:.0f} s the {cores} cores had: "
            f"importer {self.importer:.0f} s, Redis {self.redis:.0f} s, PostgreSQL and the "
            f"kernel {rest:.0f} s"
        )


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        csv_path = Path(tmp) / "dnc.csv"
        t = time.perf_counter()
        sample = write_numbers(csv_path, args.numbers, args.seed)
        print(f"wrote {args.numbers:,} numbers in {time.perf_counter() - t:.0f} s", file=sys.stderr)
        async with scratch(Path(tmp)) as s:
            pool = await create_pool(s.settings.database_url, min_size=2, max_size=6)
            redis = create_redis(s.settings.redis_url)
            keys = Keys(s.settings.redis_prefix)
            cache = DncCache(redis, pool, keys)
            try:
                await cache.rebuild()  # an empty live generation, as a fresh gateway has
                cpu_before = await CpuSplit.now(redis)
                t = time.perf_counter()
                report = await import_file(
                    s.settings,
                    csv_path,
                    csv_path.stat().st_size,
                    scope="marketing",
                    actor="bench",
                    show_progress=False,
                )
                import_s = time.perf_counter() - t
                import_cpu = (await CpuSplit.now(redis)).since(cpu_before)
                assert report.added == args.numbers, report
                gen = await cache.live()
                assert gen is not None
                usage, key_count = await redis_bytes(redis, keys, gen.number)
                # Rebuild from PostgreSQL into a new generation, timed.
                await redis.delete(keys.dnc_current)
                t = time.perf_counter()
                rebuilt = await cache.rebuild()
                rebuild_s = time.perf_counter() - t
                assert rebuilt is not None
                rebuilt_usage, rebuilt_keys = await redis_bytes(redis, keys, rebuilt.number)
                # Settle first: the vacuum PostgreSQL would start on its own after
                # 10 million inserts, so it does not share the cores with the scrub.
                await pool.execute("VACUUM (ANALYZE) dnc_entries", timeout=1800)
                scrubbed = await scrub(s, Path(tmp), sample, args.scrub)
            finally:
                await redis.aclose()
                await pool.close()
        info = machine()
        per_number = usage / args.numbers
        per_rebuilt = rebuilt_usage / args.numbers
        print(
            "\n".join(
                [
                    f"### Do-not-call list at {args.numbers:,} numbers "
                    f"({time.strftime('%Y-%m-%d')})",
                    "",
                    f"Command: `.venv/bin/python bench/dnc/run.py --numbers {args.numbers} "
                    f"--scrub {args.scrub}`",
                    f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, kernel "
                    f"{info['kernel']}, Python {info['python']}, {info['postgresql']}, "
                    f"{info['redis']}",
                    "",
                    "| measure | figure | target |",
                    "| --- | ---: | ---: |",
                    f"| import (CSV streamed, PostgreSQL + Redis) | {args.numbers / import_s:,.0f} "
                    f"numbers/s ({import_s:.0f} s) | ≥ 100,000/s |",
                    f"| CPU during the import | {import_cpu.text(import_s)} | |",
                    f"| Redis memory after import, MEMORY USAGE of {key_count:,} buckets | "
                    f"{per_number:.1f} bytes/number ({usage / 2**20:,.0f} MiB) | ≤ 15 |",
                    f"| after a rebuild ({rebuilt_keys:,} buckets) | "
                    f"{per_rebuilt:.1f} bytes/number | |",
                    f"| projected for 100 million | "
                    f"{per_rebuilt * 100_000_000 / 2**30:.1f} GiB | |",
                    f"| cache rebuild from PostgreSQL | {rebuild_s:.1f} s | < 60 s |",
                    f"| scrub of a {scrubbed.total:,}-number list as a scrub job (upload to "
                    f"result downloaded) | {scrubbed.job_rate:,.0f} numbers/s "
                    f"({scrubbed.total / scrubbed.job_rate:.1f} s) | ≥ 100,000/s |",
                    f"| the same list as `POST /v1/scrub` requests of 10,000 | "
                    f"{scrubbed.sync_rate:,.0f} numbers/s | |",
                ]
            )
        )


@dataclass
class ScrubFigures:
    total: int
    job_rate: float
    sync_rate: float


async def scrub(s: Scratch, tmp: Path, listed: list[str], total: int) -> ScrubFigures:
    """Appointment purpose: the number, staff and DNC rules (a marketing entry blocks
    appointments); no list rule, so every answer can be checked against the list."""
    rng = random.Random(7)
    numbers = [rng.choice(listed) for _ in range(total // 2)]
    # 134 is a mobile prefix the generated list never uses: these are surely not listed.
    numbers += [f"134{rng.randrange(10**8):08d}" for _ in range(total // 2)]
    rng.shuffle(numbers)
    listed_set = set(listed)
    expected = ["false" if n in listed_set else "true" for n in numbers]
    upload = tmp / "scrub.csv"
    upload.write_text("number\n" + "".join(f"{n}\n" for n in numbers))
    headers = {"Authorization": f"Bearer {s.tokens['dialer']}"}
    async with (
        serving_process(s.settings) as base,
        aiohttp.ClientSession(base, headers=headers) as http,
    ):
        started = time.perf_counter()
        with upload.open("rb") as body:
            async with http.post(
                "/v1/scrub-jobs?purpose=appointment",
                data=body,
                headers={"Content-Type": "text/csv"},
            ) as r:
                assert r.status == 202, await r.text()
                job_id = (await r.json())["job_id"]
        while True:
            async with http.get(f"/v1/scrub-jobs/{job_id}") as r:
                state = (await r.json())["state"]
            if state == "done":
                break
            assert state in ("queued", "running"), state
            await asyncio.sleep(0.1)
        async with http.get(f"/v1/scrub-jobs/{job_id}/result") as r:
            assert r.status == 200
            result = await r.read()
        job_s = time.perf_counter() - started
        rows = list(csv.reader(io.StringIO(result.decode())))
        assert rows[0] == ["input", "callee_e164", "callable", "reasons"]
        assert [row[0] for row in rows[1:]] == numbers
        assert [row[2] for row in rows[1:]] == expected
        assert all(row[3] == ("dnc_listed" if row[2] == "false" else "") for row in rows[1:])

        started = time.perf_counter()
        answers: list[bool] = []
        for start in range(0, len(numbers), 10_000):
            payload = {"purpose": "appointment", "numbers": numbers[start : start + 10_000]}
            async with http.post("/v1/scrub", json=payload) as r:
                assert r.status == 200, await r.text()
                answers += [x["callable"] for x in (await r.json())["results"]]
        sync_s = time.perf_counter() - started
        assert ["true" if a else "false" for a in answers] == expected
    return ScrubFigures(len(numbers), len(numbers) / job_s, len(numbers) / sync_s)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--scrub", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    uvloop.run(main(parser.parse_args()))
