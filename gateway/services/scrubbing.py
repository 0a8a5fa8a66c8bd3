"""Batch scrubs: which numbers of a list may be called for a campaign and purpose, by the
number, staff-number, DNC and list rules. Hours, caps, caller id, agent and script belong
to the moment of the call. A scrub counts no attempt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import IO

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.core.tasks import abandon, raise_if_stopping, stop
from gateway.policy import Facts, Purpose, ScrubResult, scrub
from gateway.policy.facts import epoch_ms
from gateway.policy.fast_numbers import parse_for_scrub
from gateway.services.dnc_since import ListedSinceLookup
from gateway.store.dnc_changes import KnownChanges
from gateway.store.keys import Keys
from gateway.store.registry_cache import RegistryCache
from gateway.store.scripts import lua

log = logging.getLogger("gateway.scrub")

LOOKUP_CHUNK = 2000
_CLEAR = Facts()
# The lookup script's one character per number.
_FACTS = {
    ord("-"): _CLEAR,
    ord("m"): Facts(dnc_scope="marketing"),
    ord("a"): Facts(dnc_scope="all"),
}
JOB_CHUNK = 20_000
STALE_SECONDS = 120  # a running job not heard of for this long died with its process


class Scrubber:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        registries: RegistryCache,
        clock: Callable[[], datetime],
        known: KnownChanges,
        listed: ListedSinceLookup | None = None,
    ) -> None:
        self._known = known
        self._listed = listed
        self._redis = redis
        self._keys = keys
        self._registries = registries
        self._clock = clock
        self._lookup = redis.register_script(lua("dnc_lookup_many.lua"))

    async def _scopes(self, numbers: Sequence[str | None], now_ms: int) -> list[Facts]:
        """Facts per number: the DNC scope, or degraded for all when Redis cannot say."""
        wanted = [n for n in numbers if n is not None]
        try:
            pipe = self._redis.pipeline(transaction=False)
            for start in range(0, len(wanted), LOOKUP_CHUNK):
                packed = "".join(f"{n[1:]}\n" for n in wanted[start : start + LOOKUP_CHUNK])
                await self._lookup(
                    keys=[self._keys.dnc_current],
                    args=[self._keys.dnc_prefix, now_ms, packed, self._known.required()],
                    client=pipe,
                )
            answers: list[bytes] = await pipe.execute() if wanted else []
        except (RedisError, OSError) as e:
            log.warning("redis unavailable for a scrub: %s", e)
            return [Facts(degraded="Redis is unreachable")] * len(numbers)
        if any(a == b"degraded" for a in answers):
            return [Facts(degraded="the do-not-call cache is incomplete")] * len(numbers)
        scopes = iter(b"".join(a[3:] for a in answers))
        return [_FACTS[next(scopes)] if n is not None else _CLEAR for n in numbers]

    async def scrub(
        self,
        raw_numbers: Sequence[str],
        purpose: Purpose,
        campaign_id: str | None,
        *,
        explain: bool = True,
    ) -> list[ScrubResult]:
        """`explain`: the `dnc_listed` messages say since when and why (looked up after
        the results; a job's CSV carries only the codes, so it does without)."""
        snapshot = self._registries.current
        parsed = [parse_for_scrub(raw) for raw in raw_numbers]
        facts = await self._scopes([p.e164 if p else None for p in parsed], epoch_ms(self._clock()))
        results = [
            scrub(raw, callee, purpose, campaign_id, snapshot, fact)
            for raw, callee, fact in zip(raw_numbers, parsed, facts, strict=True)
        ]
        if explain and self._listed is not None:
            results = await self._listed.explain_scrub(results, purpose)
        return results


def _discard(spool: IO[str]) -> None:
    spool.close()
    with contextlib.suppress(FileNotFoundError):
        os.unlink(spool.name)


_NEEDS_QUOTES = re.compile(r'[",\r\n]')
RESULT_HEADER = "input,callee_e164,callable,reasons\n"


def result_line(result: ScrubResult) -> str:
    """One line of a scrub job's CSV result: input,callee_e164,callable,reasons."""
    value = result.input
    if _NEEDS_QUOTES.search(value):
        value = '"' + value.replace('"', '""') + '"'
    codes = ";".join([r.code for r in result.reasons]) if result.reasons else ""
    callable_ = "true" if result.callable else "false"
    return f"{value},{result.callee_e164 or ''},{callable_},{codes}\n"


class ScrubJobs:
    """Large scrubs: the upload is spooled to a local file, scrubbed in the background in
    the process that took it, and the results kept in PostgreSQL for any process to
    serve."""

    def __init__(self, pool: asyncpg.Pool, scrubber: Scrubber) -> None:
        self._pool = pool
        self._scrubber = scrubber
        self._running: set[asyncio.Task[None]] = set()
        self._one_at_a_time = asyncio.Semaphore(1)

    async def submit(
        self,
        lines: AsyncIterator[tuple[int, str]],
        *,
        purpose: Purpose,
        campaign_id: str | None,
        actor: str,
    ) -> uuid.UUID:
        spool: IO[str] = tempfile.NamedTemporaryFile(
            "w+", encoding="utf-8", prefix="scrub-", suffix=".csv", delete=False
        )
        total = 0
        values: list[str] = []
        write = spool.write
        try:
            async for number, line in lines:
                value = line.split(",", 1)[0].strip().strip('"')
                if not value or (number == 1 and value.lower() in ("number", "callee")):
                    continue
                values.append(f"{value}\n")
                if len(values) >= JOB_CHUNK:
                    total += len(values)
                    write("".join(values))
                    values.clear()
            total += len(values)
            write("".join(values))
            spool.flush()
        except BaseException:
            _discard(spool)
            raise
        job_id = uuid.uuid4()
        await self._pool.execute(
            "INSERT INTO scrub_jobs (job_id, campaign_id, purpose, state, total, created_by) "
            "VALUES ($1, $2, $3, 'queued', $4, $5)",
            job_id,
            campaign_id,
            purpose,
            total,
            actor,
        )
        task = asyncio.create_task(self._run(job_id, spool, purpose, campaign_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return job_id

    async def _run(
        self, job_id: uuid.UUID, spool: IO[str], purpose: Purpose, campaign_id: str | None
    ) -> None:
        try:
            # While another job runs here, keep this one's row fresh so it is not taken
            # for dead.
            while True:
                try:
                    await asyncio.wait_for(self._one_at_a_time.acquire(), STALE_SECONDS / 4)
                    break
                except TimeoutError:
                    raise_if_stopping()
                    await self._set(job_id, "queued")
            try:
                await self._set(job_id, "running")
                spool.seek(0)
                await self._scrub_spool(job_id, spool, purpose, campaign_id)
                await self._set(job_id, "done")
            finally:
                self._one_at_a_time.release()
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._set(job_id, "failed", "the gateway stopped"))
            raise
        except Exception as e:
            log.exception("scrub job failed")
            with contextlib.suppress(Exception):
                await self._set(job_id, "failed", f"{type(e).__name__}: {e}")
        finally:
            _discard(spool)

    async def _scrub_spool(
        self, job_id: uuid.UUID, spool: IO[str], purpose: Purpose, campaign_id: str | None
    ) -> None:
        """Scrub the spooled numbers a chunk at a time, three stages overlapping: the next
        chunk's do-not-call lookup in Redis, this chunk's rules and CSV lines, and the
        previous chunk's lines being stored in PostgreSQL."""

        def read() -> list[str]:
            return [line.rstrip("\n") for _, line in zip(range(JOB_CHUNK), spool, strict=False)]

        def start(chunk: list[str]) -> asyncio.Task[list[ScrubResult]] | None:
            if not chunk:
                return None
            return asyncio.create_task(
                self._scrubber.scrub(chunk, purpose, campaign_id, explain=False)
            )

        processed = number = 0
        storing: asyncio.Task[None] | None = None
        current: asyncio.Task[list[ScrubResult]] | None = None
        scrubbing = start(read())
        try:
            while scrubbing is not None:
                current, scrubbing = scrubbing, start(read())
                results = await current
                text = "".join([result_line(r) for r in results])
                if storing is not None:
                    await storing
                processed += len(results)
                storing = asyncio.create_task(
                    self._store(job_id, number, len(results), text, processed)
                )
                number += 1
            if storing is not None:
                await storing
        except BaseException:
            await abandon(current, scrubbing, storing)
            raise

    async def _store(
        self, job_id: uuid.UUID, chunk: int, lines: int, text: str, processed: int
    ) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO scrub_result_chunks (job_id, chunk, lines, csv) "
                "VALUES ($1, $2, $3, $4)",
                job_id,
                chunk,
                lines,
                text,
            )
            await conn.execute(
                "UPDATE scrub_jobs SET processed = $2, updated_at = now() WHERE job_id = $1",
                job_id,
                processed,
            )

    async def results(self, job_id: uuid.UUID) -> AsyncGenerator[str, None]:
        """A done job's CSV result, header first, a chunk at a time."""
        yield RESULT_HEADER
        async with self._pool.acquire() as conn, conn.transaction(readonly=True):
            async for row in conn.cursor(
                "SELECT csv FROM scrub_result_chunks WHERE job_id = $1 ORDER BY chunk",
                job_id,
                prefetch=4,
            ):
                yield row["csv"]

    async def _set(self, job_id: uuid.UUID, state: str, error: str | None = None) -> None:
        await self._pool.execute(
            "UPDATE scrub_jobs SET state = $2, error = $3, updated_at = now() WHERE job_id = $1",
            job_id,
            state,
            error,
        )

    async def status(self, job_id: uuid.UUID) -> asyncpg.Record | None:
        return await self._pool.fetchrow(
            "SELECT job_id, campaign_id, purpose, processed, total, error, created_at, "
            "updated_at, CASE WHEN state IN ('queued', 'running') AND updated_at < "
            f"now() - interval '{STALE_SECONDS} seconds' THEN 'failed' ELSE state END AS state "
            "FROM scrub_jobs WHERE job_id = $1",
            job_id,
        )

    async def close(self) -> None:
        await stop(*self._running)
