"""The do-not-call list in Redis: small hashes bucketed by number, rebuilt from PostgreSQL
(the truth) into a fresh generation that becomes live only when complete. A rebuild also
restores what else Redis held that PostgreSQL can tell again: the attempt counters, from
the week's allowed decisions, and the answers a retry with the same request_id gets, from
the last day's decisions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.commands.core import AsyncScript as Script
from redis.exceptions import RedisError

from gateway import metrics
from gateway.answers import (
    ANSWER_COLUMNS,
    BINDING,
    IDEMPOTENCY_SECONDS,
    ms_left,
    replay_from_decision,
)
from gateway.store.keys import Keys
from gateway.tasks import abandon, raise_if_stopping, stop
from gateway.types import Conn

log = logging.getLogger("gateway.dnc")

ENTRIES_PER_BUCKET = 48  # stays well inside Redis's compact listpack encoding (128)
MIN_BUCKETS = 1024
_LOCK_MS = 120_000
RENEW_SECONDS = 5.0  # the rebuild's lock and marker, while it runs
WARN_EVERY_SECONDS = 30.0  # while Redis stays unreachable
ATTEMPTS_TTL_MS = 8 * 86_400_000  # the same as the check script's
CHUNK_BYTES = 32_768  # a bulk script call: about 2,000 entries, a millisecond or two of Redis
CALLS_PER_ROUND_TRIP = 16
REBUILD_QUEUE = 16
REBUILD_TIMEOUT = 3600.0  # the stream of a whole list: far beyond the pool's per-query limit

# An entry (number, scope, expires_at) as the bulk script's line "<digits> <value>",
# without its line end; the value as cache_value() writes it.
CACHE_LINE_SQL = (
    "substr(number, 2) || ' ' || CASE scope WHEN 'all' THEN 'a' ELSE 'm' END "
    "|| coalesce('|' || floor(extract(epoch FROM expires_at))::bigint, '')"
)
_REBUILD_LINES = f"""
SELECT {CACHE_LINE_SQL} FROM dnc_entries
WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())
"""

# The allowed decisions whose attempts count, as attempts_restore.lua's lines; the time in
# whole milliseconds, as the check counts it.
_ATTEMPT_LINES = """
SELECT callee_e164 || ' ' || floor(extract(epoch FROM created_at) * 1000)::bigint || ' '
    || call_id FROM calls
WHERE created_at > $1 AND decision = 'allow' AND purpose IN ('marketing', 'appointment')
    AND callee_e164 IS NOT NULL
"""
# The answer Redis held for each (token, request_id), as the check left it for retries:
# the latest, since a second check with the same request_id is made only when the first
# one's answer was not in Redis, and its own then was. Not one denied because Redis was
# unreachable (those bind nothing).
_ANSWER_ROWS = f"""
SELECT DISTINCT ON (token_id, request_id) token_id, request_id, {ANSWER_COLUMNS}
FROM calls
WHERE created_at > $1 AND request_id IS NOT NULL AND token_id IS NOT NULL AND {BINDING}
ORDER BY token_id, request_id, created_at DESC, call_id DESC
"""


class RebuildLost(RedisError):
    """The generation being built disappeared (Redis flushed or restarted)."""


# KEYS[1] the rebuild lock, KEYS[2] the building marker; ARGV[1] the lock's token,
# ARGV[2] ms. 1 renewed, 0 the marker is gone, -1 the lock is not ours.
_RENEW = """
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return -1 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return redis.call("PEXPIRE", KEYS[2], ARGV[2])
"""

_GO_LIVE = """
if redis.call("GET", KEYS[2]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[1])
redis.call("DEL", KEYS[2])
return 1
"""


def lua(name: str) -> str:
    return resources.files("gateway.store").joinpath("lua", name).read_text("utf-8")


def bucket_count(entries: int) -> int:
    n = MIN_BUCKETS
    while n * ENTRIES_PER_BUCKET < entries:
        n *= 2
    return n


def cache_value(scope: str, expires_at: datetime | None) -> str:
    code = "a" if scope == "all" else "m"
    return code if expires_at is None else f"{code}|{int(expires_at.timestamp())}"


def digits(e164: str) -> int:
    return int(e164.lstrip("+"))


@dataclass(frozen=True)
class Generation:
    number: int
    buckets: int

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Generation | None:
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else raw
        gen, _, buckets = text.partition(" ")
        return cls(int(gen), int(buckets))

    def marker(self) -> str:
        return f"{self.number} {self.buckets}"


class _Feed:
    """A writer task sending a rebuild's bulk script calls, several a round trip, while
    the next ones are being made. `send` a call's arguments; leaving the `async with`
    waits for the last call."""

    def __init__(self, redis: Redis, script: Script, keys: list[str]) -> None:
        self._redis = redis
        self._script = script
        self._keys = keys
        self._calls: asyncio.Queue[list[str | bytes] | None] = asyncio.Queue(REBUILD_QUEUE)
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Feed:
        self._writer = asyncio.create_task(self._write(), name="dnc-rebuild-writer")
        return self

    async def __aexit__(self, kind: object, error: object, tb: object) -> None:
        assert self._writer is not None
        if error is None:
            try:
                await self.send(None)  # the end of the stream
                await self._writer
                return
            except BaseException:
                await abandon(self._writer)
                raise
        await abandon(self._writer)

    async def send(self, args: list[str | bytes] | None) -> None:
        assert self._writer is not None
        put = asyncio.ensure_future(self._calls.put(args))
        try:
            await asyncio.wait({put, self._writer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped = not put.done()  # the writer stopped (its error is raised below)
            if stopped:  # or this task is being cancelled
                put.cancel()
        if stopped:
            self._writer.result()
            raise RebuildLost("the rebuild writer stopped")

    async def _write(self) -> None:
        done = False
        while not done:
            pipe = self._redis.pipeline(transaction=False)
            args = await self._calls.get()
            queued = 0
            while args is not None:
                await self._script(keys=self._keys, args=args, client=pipe)
                queued += 1
                if queued >= CALLS_PER_ROUND_TRIP or self._calls.empty():
                    break
                args = self._calls.get_nowait()
            done = args is None
            if queued:
                await pipe.execute()


class DncCache:
    def __init__(
        self,
        redis: Redis,
        pool: asyncpg.Pool,
        keys: Keys,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        # The clock the checks stamp their decisions with: the attempts restored after a
        # rebuild are the week before it, not before the database server's time.
        self._clock = clock or (lambda: datetime.now(UTC))
        self._redis = redis
        self._pool = pool
        self._keys = keys
        self._apply = redis.register_script(lua("dnc_apply.lua"))
        self._apply_many = redis.register_script(lua("dnc_apply_many.lua"))
        self._attempts_restore = redis.register_script(lua("attempts_restore.lua"))
        self._answers_restore = redis.register_script(lua("answers_restore.lua"))
        self._go_live = redis.register_script(_GO_LIVE)
        self._renew = redis.register_script(_RENEW)
        self._watchdog: asyncio.Task[None] | None = None
        self.last_rebuild_seconds: float | None = None

    async def live(self) -> Generation | None:
        return Generation.parse(await self._redis.get(self._keys.dnc_current))

    async def apply(self, e164: str, scope: str | None, expires_at: datetime | None = None) -> None:
        """Mirror one number's state after it is committed in PostgreSQL."""
        value = "" if scope is None else cache_value(scope, expires_at)
        await self._apply(
            keys=[self._keys.dnc_current, self._keys.dnc_building],
            args=[str(digits(e164)), value, f"{self._keys.prefix}dnc:"],
        )

    async def read_buckets(
        self, gen: Generation, buckets: Iterable[int]
    ) -> list[dict[bytes, bytes]]:
        pipe = self._redis.pipeline(transaction=False)
        for bucket in buckets:
            pipe.hgetall(self._keys.dnc_bucket(gen.number, bucket))
        held: list[dict[bytes, bytes]] = await pipe.execute()
        return held

    async def ensure_capacity(self, entries: int) -> None:
        """Before a bulk load: when `entries` would crowd the live generation's buckets
        past Redis's compact encoding, rebuild it with more buckets first (the list as it
        is, so this is cheap exactly when the list is small)."""
        gen = await self.live()
        if gen is not None and entries > gen.buckets * ENTRIES_PER_BUCKET * 2:
            await self.rebuild(min_entries=entries)

    async def invalidate(self) -> None:
        """Mark the cache incomplete: checks deny as degraded until the watchdog rebuilds
        it from PostgreSQL. Used when a change could not be mirrored."""
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self._keys.dnc_current)

    async def apply_many(self, entries: Iterable[tuple[str, str | None, datetime | None]]) -> None:
        """Mirror many numbers' states (e164, scope or None to remove, expiry) into the
        live generation and, during a rebuild, the one being built."""
        await self.apply_lines(
            "".join(
                f"{e164[1:]} {'' if scope is None else cache_value(scope, expires)}\n"
                for e164, scope, expires in entries
            )
        )

    async def apply_lines(self, text: str) -> None:
        """Mirror entries written as the bulk script's lines "<digits> <value>\n" (as
        apply_many writes them, or CACHE_LINE_SQL) into the live generation and the one
        being built: CHUNK_BYTES a script call, several calls a round trip."""
        markers = [self._keys.dnc_current, self._keys.dnc_building]
        prefix = f"{self._keys.prefix}dnc:"
        pipe = self._redis.pipeline(transaction=False)
        start = queued = 0
        while start < len(text):
            cut = text.rfind("\n", start, start + CHUNK_BYTES) + 1
            if cut <= start:  # a chunk shorter than one line: only the last can be
                cut = len(text)
            await self._apply_many(keys=markers, args=[prefix, text[start:cut]], client=pipe)
            start = cut
            queued += 1
            if queued >= CALLS_PER_ROUND_TRIP:
                await pipe.execute()
                queued = 0
        if queued:
            await pipe.execute()

    async def rebuild(self, min_entries: int = 0) -> Generation | None:
        """Build a complete generation from PostgreSQL and make it live, with buckets for
        at least `min_entries`. Returns None when another process holds the rebuild
        lock."""
        token = secrets.token_hex(8)
        if not await self._redis.set(self._keys.dnc_rebuild_lock, token, nx=True, px=_LOCK_MS):
            return None
        started = time.perf_counter()
        try:
            gen = await self._build(token, min_entries)
        except BaseException:
            metrics.CACHE_REBUILDS.labels("failed").inc()
            await self._redis.delete(self._keys.dnc_building)
            raise
        finally:
            await self._release(token)
        self.last_rebuild_seconds = time.perf_counter() - started
        metrics.CACHE_REBUILDS.labels("done").inc()
        log.info(
            "dnc cache rebuilt",
            extra={
                "fields": {
                    "generation": gen.number,
                    "buckets": gen.buckets,
                    "seconds": round(self.last_rebuild_seconds, 3),
                }
            },
        )
        return gen

    async def _release(self, token: str) -> None:
        with contextlib.suppress(RedisError):
            if (await self._redis.get(self._keys.dnc_rebuild_lock)) == token.encode():
                await self._redis.delete(self._keys.dnc_rebuild_lock)

    async def _build(self, token: str, min_entries: int) -> Generation:
        async with self._pool.acquire() as conn:
            count = await conn.fetchval("SELECT count(*) FROM dnc_entries WHERE ended_at IS NULL")
            number = int(await self._redis.incr(f"{self._keys.prefix}dnc:generation-seq"))
            gen = Generation(number, bucket_count(max(int(count), min_entries)))
            # From here on, live changes are written into the new generation too.
            await self._redis.set(self._keys.dnc_building, gen.marker(), px=_LOCK_MS)
            await self._while_held(token, self._fill(conn))
        old = await self.live()
        # Go live only if the generation is still the one being built: Redis flushed or
        # restarted meanwhile would leave it incomplete.
        switched = await self._go_live(
            keys=[self._keys.dnc_current, self._keys.dnc_building], args=[gen.marker()]
        )
        if not switched:
            raise RebuildLost("the generation being built vanished from Redis")
        if old is not None and old.number != gen.number:
            await self._drop_generation(old.number)
        return gen

    async def _fill(self, conn: Conn) -> None:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await self._copy_generation(conn)
        await self._restore_attempts(conn)
        await self._restore_answers(conn)

    async def _while_held(self, token: str, work: Coroutine[Any, Any, None]) -> None:
        """Run a rebuild's work while renewing its lock and building marker every few
        seconds, however long PostgreSQL takes to answer; stop it when the marker
        vanished (Redis flushed or restarted) or the lock went to another process."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=RENEW_SECONDS)
                if done:
                    return task.result()
                renewed = await self._renew(
                    keys=[self._keys.dnc_rebuild_lock, self._keys.dnc_building],
                    args=[token, _LOCK_MS],
                )
                if renewed == 0:
                    raise RebuildLost("the generation being built vanished from Redis")
                if renewed < 0:
                    raise RebuildLost("another process holds the rebuild lock")
        finally:
            await abandon(task)

    async def _copy_generation(self, conn: Conn) -> None:
        """Stream the active entries out of PostgreSQL, already written as the bulk
        script's lines, into the generation being built."""
        await self._copy_lines(
            conn,
            _REBUILD_LINES,
            script=self._apply_many,
            keys=[self._keys.dnc_building],
            head=[f"{self._keys.prefix}dnc:"],
        )

    async def _restore_attempts(self, conn: Conn) -> None:
        """Counters live only in Redis; after Redis lost them, count again from the
        allowed decisions of the last week (member = call id, so re-adding is harmless)."""
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await self._copy_lines(
                conn,
                _ATTEMPT_LINES,
                self._clock() - timedelta(milliseconds=ATTEMPTS_TTL_MS),
                script=self._attempts_restore,
                keys=[],
                head=[f"{self._keys.prefix}att:", str(ATTEMPTS_TTL_MS)],
            )

    async def _copy_lines(
        self,
        conn: Conn,
        query: str,
        *params: object,
        script: Script,
        keys: list[str],
        head: list[str],
    ) -> None:
        """Stream the lines a query makes into a bulk script, CHUNK_BYTES a call (after
        the `head` arguments). PostgreSQL formats, Python only cuts the stream at line
        ends, and a writer task keeps Redis busy meanwhile."""
        async with _Feed(self._redis, script, keys) as feed:
            held: list[bytes] = []
            held_bytes = 0

            async def collect(data: bytes) -> None:
                nonlocal held_bytes
                held.append(data)
                held_bytes += len(data)
                if held_bytes >= CHUNK_BYTES:
                    joined = b"".join(held)
                    cut = joined.rfind(b"\n") + 1  # PostgreSQL ends every line with one
                    held[:] = [joined[cut:]]
                    held_bytes = len(held[0])
                    await feed.send([*head, joined[:cut]])

            await conn.copy_from_query(query, *params, output=collect, timeout=REBUILD_TIMEOUT)
            if held_bytes:
                await feed.send([*head, b"".join(held)])

    async def _restore_answers(self, conn: Conn) -> None:
        """A retry's answer lives only in Redis; after Redis lost it, put back the answer
        of each (token, request_id) of the last day, for what is left of its day.
        Checks denied because Redis was unreachable left none (a retry is checked
        again), so they are not put back; an answer still in Redis stays as it is."""
        now = self._clock()
        unreadable = 0
        async with (
            conn.transaction(isolation="repeatable_read", readonly=True),
            _Feed(self._redis, self._answers_restore, []) as feed,
        ):
            triples: list[str | bytes] = []
            size = 0
            async for row in conn.cursor(
                _ANSWER_ROWS,
                now - timedelta(seconds=IDEMPOTENCY_SECONDS),
                prefetch=2000,
                timeout=REBUILD_TIMEOUT,  # the first fetch waits for the day's sort
            ):
                left_ms = ms_left(row["created_at"], now)
                if left_ms <= 0:
                    continue
                try:
                    value = replay_from_decision(row)
                except (msgspec.ValidationError, msgspec.DecodeError) as e:
                    # Not written by a check (a hand-made row): a retry is judged afresh
                    # rather than the whole rebuild, and every check with it, held up.
                    unreadable += 1
                    if unreadable == 1:
                        log.warning(
                            "a decision's answer cannot be put back for retries: %s",
                            e,
                            extra={"fields": {"call_id": row["call_id"]}},
                        )
                    continue
                key = self._keys.idempotency(row["token_id"], row["request_id"])
                triples += (key, str(left_ms), value)
                size += len(key) + len(value)
                if size >= CHUNK_BYTES:
                    await feed.send(triples)
                    triples, size = [], 0
            if triples:
                await feed.send(triples)
        if unreadable:
            log.warning("%d decisions' answers not put back: unreadable", unreadable)

    async def _drop_generation(self, number: int) -> None:
        pattern = self._keys.dnc_bucket_prefix(number) + "*"
        batch: list[bytes] = []
        async for key in self._redis.scan_iter(match=pattern, count=2000):
            batch.append(key)
            if len(batch) >= 1000:
                await self._redis.unlink(*batch)
                batch = []
        if batch:
            await self._redis.unlink(*batch)

    async def ensure(self) -> None:
        """Rebuild when no complete generation is live (Redis restarted empty or flushed)."""
        if await self.live() is None:
            await self.rebuild()

    def start_watchdog(self, interval: float = 0.5) -> None:
        self._watchdog = asyncio.create_task(self._watch(interval), name="dnc-watchdog")

    async def stop_watchdog(self) -> None:
        await stop(self._watchdog)

    async def _watch(self, interval: float) -> None:
        failing_since: float | None = None
        last_warned = 0.0
        while True:
            raise_if_stopping()
            try:
                await self.ensure()
                if failing_since is not None:
                    log.info(
                        "dnc cache reachable again after %.0f s", time.monotonic() - failing_since
                    )
                    failing_since = None
            except (RedisError, OSError, asyncpg.PostgresError) as e:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - last_warned >= WARN_EVERY_SECONDS:
                    last_warned = now
                    log.warning("dnc cache check failed (checks deny meanwhile): %s", e)
            await asyncio.sleep(interval)
