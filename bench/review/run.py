"""Recording upload throughput and review query time on a large calls table.

    .venv/bin/python bench/review/run.py [--calls 5000000] [--uploads 20]

1. Makes its own database and Redis prefix (removed afterwards) and fills `calls` with
   --calls rows spread over the last 180 days: 500 agents, 50 campaigns, 2 million
   callees, 30% denied with one or two reason codes. Rows are generated in PostgreSQL
   (INSERT ... SELECT), with every index of the schema in place.
2. Serves the gateway in this process on a real port and times, over HTTP, each review
   query of the API 20 times (first page, each filter, a page reached by cursor), and
   reports the median and the slowest.
3. Uploads --uploads recordings of 5 MB each (PUT /v1/calls/{id}/recording, both copies
   written and fsynced before the answer) and reports MB/s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import machine, scratch, serving
from gateway.store.postgres import connect

FILL = """
INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164, caller_id,
                   agent_id, campaign_id, purpose, list_id, policy_version, token_name,
                   valid_until)
SELECT gen_random_uuid(), t, d,
       CASE WHEN d = 'deny' THEN jsonb_build_array(jsonb_build_object(
            'code', (ARRAY['dnc_listed','outside_calling_hours','frequency_exceeded',
                           'not_in_approved_list','script_not_approved'])[1 + (i % 5)],
            'rule', 'x', 'message', 'bench')) ELSE '[]'::jsonb END,
       jsonb_build_object('callee', callee), callee, '+864008001234',
       'A' || (i % 500), 'camp-' || (i % 50), 'marketing', 'list-' || (i % 50), 'r1',
       'bench-dialer', t + interval '60 seconds'
FROM (SELECT i, now() - (random() * interval '180 days') AS t,
             CASE WHEN random() < 0.3 THEN 'deny' ELSE 'allow' END AS d,
             '+86138' || lpad((i * 7919 % 2000000)::text, 8, '0') AS callee
      FROM generate_series($1::bigint, $2::bigint) AS i) g
"""


async def fill(url: str, total: int) -> float:
    conn = await connect(url)
    started = time.perf_counter()
    try:
        step = 500_000
        for start in range(1, total + 1, step):
            await conn.execute(FILL, start, min(start + step - 1, total))
            print(f"  {min(start + step - 1, total):,} calls", file=sys.stderr)
        await conn.execute("ANALYZE calls")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def time_get(http: aiohttp.ClientSession, url: str, token: str, runs: int = 20) -> Any:
    times = []
    body: Any = None
    for _ in range(runs):
        t = time.perf_counter()
        async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 200, await resp.text()
            body = await resp.json()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times), body


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="gwbench-") as tmp:
        async with scratch(Path(tmp)) as s:
            print(f"filling {args.calls:,} calls", file=sys.stderr)
            fill_s = await fill(s.settings.database_url, args.calls)
            results: list[tuple[str, float, float]] = []
            async with serving(s.settings) as base, aiohttp.ClientSession() as http:
                sup = s.tokens["supervisor"]
                first = await time_get(http, f"{base}/v1/calls", sup)
                results.append(("first page, no filter", first[0], first[1]))
                cursor = first[2]["next_cursor"]
                for _ in range(9):
                    page = await time_get(http, f"{base}/v1/calls?cursor={cursor}", sup, 1)
                    cursor = page[2]["next_cursor"]
                tenth = await time_get(http, f"{base}/v1/calls?cursor={cursor}", sup)
                results.append(("11th page by cursor", tenth[0], tenth[1]))
                for label, query in (
                    ("agent_id", "agent_id=A17"),
                    ("campaign_id", "campaign_id=camp-7"),
                    ("callee", "callee=%2B8613800012345"),
                    ("decision=deny", "decision=deny"),
                    ("reason=dnc_listed", "reason=dnc_listed"),
                    ("agent_id + 7-day window", "agent_id=A17&from=" + _ago(14) + "&to=" + _ago(7)),
                    ("reason + campaign", "reason=frequency_exceeded&campaign_id=camp-3"),
                ):
                    med, worst, _ = await time_get(http, f"{base}/v1/calls?{query}", sup)
                    results.append((label, med, worst))
                detail_id = first[2]["items"][0]["call_id"]
                med, worst, _ = await time_get(http, f"{base}/v1/calls/{detail_id}", sup)
                results.append(("one call, whole record", med, worst))
                upload = await uploads(http, base, s, args.uploads)
        print_results(args, fill_s, results, upload)


def _ago(days: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def uploads(http: aiohttp.ClientSession, base: str, s: Any, count: int) -> dict[str, float]:
    conn = await connect(s.settings.database_url)
    try:
        ids = [
            r["call_id"]
            for r in await conn.fetch(
                "SELECT call_id FROM calls ORDER BY created_at DESC LIMIT $1", count
            )
        ]
    finally:
        await conn.close()
    audio = os.urandom(5 * 1024 * 1024)
    times = []
    for call_id in ids:
        t = time.perf_counter()
        async with http.put(
            f"{base}/v1/calls/{call_id}/recording",
            data=audio,
            headers={"Authorization": f"Bearer {s.tokens['dialer']}", "Content-Type": "audio/wav"},
        ) as resp:
            assert resp.status == 201, await resp.text()
        times.append(time.perf_counter() - t)
    mb = len(audio) / 1024 / 1024
    return {
        "uploads": count,
        "median_s": statistics.median(times),
        "mb_per_s": mb / statistics.median(times),
        "worst_s": max(times),
    }


def print_results(
    args: argparse.Namespace,
    fill_s: float,
    results: list[tuple[str, float, float]],
    upload: dict[str, float],
) -> None:
    info = machine()
    lines = [
        f"### Review and recordings ({time.strftime('%Y-%m-%d')})",
        "",
        f"Command: `.venv/bin/python bench/review/run.py --calls {args.calls} "
        f"--uploads {args.uploads}`",
        f"Machine: {info['cpu']}, {info['cores']} cores, {info['memory']}, kernel "
        f"{info['kernel']}, Python {info['python']}, {info['postgresql']}, {info['redis']}",
        "",
        f"{args.calls:,} calls generated in {fill_s:.0f} s.",
        "",
        "| review query (HTTP, 50 rows a page) | median ms | slowest of 20 ms |",
        "| --- | ---: | ---: |",
        *[f"| {label} | {med:.1f} | {worst:.1f} |" for label, med, worst in results],
        "",
        f"Recording upload, 5 MB, streamed, two copies fsynced before 201: median "
        f"{upload['median_s'] * 1000:.0f} ms = **{upload['mb_per_s']:.0f} MB/s** "
        f"(slowest {upload['worst_s'] * 1000:.0f} ms, {int(upload['uploads'])} uploads).",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=5_000_000)
    parser.add_argument("--uploads", type=int, default=20)
    uvloop.run(main(parser.parse_args()))
