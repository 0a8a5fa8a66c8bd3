"""Instructions one gateway process executes per pre-call check, counted by callgrind.

    .venv/bin/python bench/precheck/instructions.py [--checks 1000] [--concurrency 1,8]
        [--source DIR] [--keep-dumps DIR]

Throughput and latency on a shared virtual machine move by tens of percent from one run
to the next; an instruction count does not (two runs of the same code agree within about
0.5%). This tells whether a change to the check's code path made it cheaper, which the
figures of run.py cannot show below a difference of about 20%.

What one run does: the setup of run.py (its own database and Redis prefix, the demo
tenant, 100,000 do-not-call entries, a list of 50,000 numbers, open calling hours; with
--daytime the gateway's clock is moved into the calling window), then for each
concurrency: one gateway under `valgrind --tool=callgrind` with instrumentation off,
300 checks to warm it up, instrumentation on, --checks checks from this process (an
aiohttp client, that many at a time, each a marketing call to a random list number with
a unique request_id), instrumentation off, and the count read from callgrind's dump. The
gateway runs about 50 times slower under callgrind, so at a concurrency above one its
batches (decisions per commit, commands per Redis write) are those of a loaded gateway.

Only user-space instructions of the gateway process are counted: not the kernel's, not
PostgreSQL's or Redis's. --source runs the gateway from another checkout (its directory
goes first on PYTHONPATH), to compare two versions with the same virtualenv.
--keep-dumps copies callgrind's dumps into DIR, to read where the instructions go
(`callgrind_annotate --inclusive=yes DIR/callgrind-c1.*`).

Needs valgrind (Debian's package) and what run.py needs, except wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from bench.precheck.run import (  # noqa: E402
    LIST_ID,
    Bench,
    interruptible,
    log,
    start_servers,
    stop_servers,
    wait_ready,
)

WARMUP_CHECKS = 300
# The call wrk_precheck.lua sends for run.py, to a callee drawn from the list.
MARKETING = {
    "caller_id": "4008001234",
    "agent_id": "A1001",
    "campaign_id": "term-life-q4",
    "script_id": "term-life-intro",
    "script_version": 3,
    "purpose": "marketing",
    "list_id": LIST_ID,
}


async def drive(
    port: int, token: str, numbers: list[str], checks: int, at_once: int
) -> dict[str, int]:
    """`checks` prechecks, `at_once` in flight; the answers counted by decision."""
    rng = random.Random(checks * 31 + at_once)
    tag = f"ins-{time.time_ns()}"
    counts: dict[str, int] = {}
    sent = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def worker() -> None:
            nonlocal sent
            while sent < checks:
                sent += 1
                body = {**MARKETING, "callee": rng.choice(numbers), "request_id": f"{tag}-{sent}"}
                async with session.post(f"http://127.0.0.1:{port}/v1/precheck", json=body) as r:
                    answer = await r.json()
                    key = answer.get("decision") or f"http_{r.status}"
                    counts[key] = counts.get(key, 0) + 1

        await asyncio.gather(*(worker() for _ in range(at_once)))
    return counts


def callgrind(pid: int, *args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def measure(bench: Bench, args: argparse.Namespace, at_once: int) -> tuple[int, dict[str, int]]:
    assert bench.dataset is not None
    work = bench.work
    env = dict(bench.env)
    if args.source:
        env["PYTHONPATH"] = str(Path(args.source).resolve())
        env["PYTHONSAFEPATH"] = "1"  # not the working directory (this checkout) first
    cmd = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={work}/callgrind-c{at_once}.%p",
        *bench.gateway_cmd(args.port, False),
    ]
    bench.servers = start_servers(f"callgrind-c{at_once}", cmd, 1, args.port, env, work)
    try:
        wait_ready(bench.servers, "/readyz", timeout=900)
        pid = bench.servers.pids()[0]
        numbers = bench.dataset.list_numbers
        asyncio.run(drive(args.port, bench.dialer, numbers, WARMUP_CHECKS, at_once))
        callgrind(pid, "-i", "on")
        counts = asyncio.run(drive(args.port, bench.dialer, numbers, args.checks, at_once))
        callgrind(pid, "-i", "off")
        callgrind(pid, "-d")
    finally:
        stop_servers(bench.servers)
        bench.servers = None
    dumps = sorted(work.glob(f"callgrind-c{at_once}.*.1"))
    if not dumps:
        raise RuntimeError("callgrind wrote no dump")
    if args.keep_dumps:
        Path(args.keep_dumps).mkdir(parents=True, exist_ok=True)
        shutil.copy(dumps[-1], args.keep_dumps)
    match = re.search(r"^totals: (\d+)", dumps[-1].read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {dumps[-1]}")
    return int(match.group(1)), counts


def source_commit(source: str | None) -> str:
    where = source or str(HERE.parents[1])
    out = subprocess.run(
        ["git", "-C", where, "log", "-1", "--format=%h %s"], capture_output=True, text=True
    )
    return out.stdout.strip() or where


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=1000, help="checks counted per row")
    parser.add_argument("--concurrency", default="1,8", help="checks in flight, per row")
    parser.add_argument("--source", help="run the gateway from this checkout")
    parser.add_argument("--keep-dumps", help="copy callgrind's dumps into this directory")
    parser.add_argument("--daytime", action="store_true", help="as in run.py")
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--port", type=int, default=18080)
    parser.add_argument("--list-size", type=int, default=50_000)
    parser.add_argument("--dnc", type=int, default=100_000)
    parser.add_argument("--dnc-share", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if subprocess.run(["which", "valgrind"], capture_output=True).returncode != 0:
        print("error: valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 2

    bench = Bench(args)
    rows = []
    try:
        with interruptible():
            bench.setup_database()
            bench.decide_clock()
            bench.configure_registries()
            for at_once in (int(c) for c in args.concurrency.split(",")):
                total, counts = measure(bench, args, at_once)
                rows.append((at_once, total, counts))
                log(f"{at_once} at a time: {total / args.checks:,.0f} instructions a check")
    except KeyboardInterrupt:
        return 130
    finally:
        bench.cleanup()
    print(f"\nCode: {source_commit(args.source)}; {args.checks:,} checks a row")
    print("\n| checks at a time | instructions a check | answers |")
    print("| ---: | ---: | --- |")
    for at_once, total, counts in rows:
        answers = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"| {at_once} | {total / args.checks:,.0f} | {answers} |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
