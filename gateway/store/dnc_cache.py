"""The do-not-call list in Redis: small hashes bucketed by number, kept in step with
PostgreSQL (the truth) by its numbered changes (gateway.store.dnc_changes).

Each generation's marker records the number of the last change it holds, and changes are
applied strictly in order (`dnc_change.lua` applies change n only to a generation that
holds n - 1): so a generation that holds change n holds every change before it, whoever
applied them and in whatever order their processes got to Redis. The process that makes
a change applies it before answering (`publish`); a cache that is behind (Redis was
unreachable, restarted with an older copy, or lost writes) is brought up to date by
replaying the missing changes from PostgreSQL (`catch_up`), by any process.

A rebuild makes a fresh generation from a snapshot of PostgreSQL and its change number,
replays the changes made since, and becomes live only when complete. A rebuild also
restores what else Redis held that PostgreSQL can tell again (gateway.store.restore)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.core import metrics
from gateway.core.aliases import Conn
from gateway.core.tasks import abandon, raise_if_stopping, stop
from gateway.store import dnc_changes
from gateway.store.bulk import CHUNK_BYTES, RebuildLost, copy_lines
from gateway.store.dnc_changes import KnownChanges
from gateway.store.keys import Keys
from gateway.store.restore import RedisRestore
from gateway.store.scripts import lua

log = logging.getLogger("gateway.dnc")

ENTRIES_PER_BUCKET = 48  # stays well inside Redis's compact listpack encoding (128)
MIN_BUCKETS = 1024
_LOCK_MS = 8_000  # renewed every RENEW_SECONDS while a rebuild runs; a failed one frees it soon
RENEW_SECONDS = 2.0  # the rebuild's lock and marker, while it runs
WARN_EVERY_SECONDS = 30.0  # while Redis stays unreachable
PUBLISH_SECONDS = 2.0  # a change waits this long at most to be in Redis before answering
GAP_WAITS = 5  # rounds a change waits (2-32 ms) for an earlier one to land before reading it
CATCH_UP_CHANGES = 200  # changes read from PostgreSQL at a time
CATCH_UP_AFTER_SECONDS = 1.0  # a change heard of but not applied this long is replayed
GO_LIVE_TRIES = 5
T = TypeVar("T")

# An entry (number, scope, expires_at) as the change script's line "<digits> <value>",
# without its line end; the value as dnc_changes.cache_value() writes it.
CACHE_LINE_SQL = (
    "substr(number, 2) || ' ' || CASE scope WHEN 'all' THEN 'a' ELSE 'm' END "
    "|| coalesce('|' || ceil(extract(epoch FROM expires_at))::bigint, '')"
)
_REBUILD_LINES = f"""
SELECT {CACHE_LINE_SQL} FROM dnc_entries
WHERE ended_at IS NULL AND (expires_at IS NULL OR expires_at > now())
"""


# KEYS[1] the rebuild lock, KEYS[2] the building marker; ARGV[1] the lock's token,
# ARGV[2] ms. 1 renewed, 0 the marker is gone, -1 the lock is not ours.
_RENEW = """
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return -1 end
redis.call("PEXPIRE", KEYS[1], ARGV[2])
return redis.call("PEXPIRE", KEYS[2], ARGV[2])
"""

# KEYS[1] dnc:current, KEYS[2] dnc:building; ARGV[1] the building marker as the rebuild
# left it, ARGV[2] "1" to go live even behind the live generation. -1 the generation being
# built vanished (or changed), 0 live now, else the live generation's applied number, which
# the new one must reach first.
_GO_LIVE = """
local building = redis.call("GET", KEYS[2])
if building ~= ARGV[1] then return -1 end
local current = redis.call("GET", KEYS[1])
if current and ARGV[2] ~= "1" then
  local live = tonumber(string.match(current, "^%d+ %d+ (%d+)$"))
  local mine = tonumber(string.match(building, "^%d+ %d+ (%d+)$"))
  if live and live > mine then return live end
end
redis.call("SET", KEYS[1], building)
redis.call("DEL", KEYS[2])
return 0
"""


def bucket_count(entries: int) -> int:
    n = MIN_BUCKETS
    while n * ENTRIES_PER_BUCKET < entries:
        n *= 2
    return n


def _parts(lines: str) -> list[str]:
    """Lines cut at line ends into script arguments of about CHUNK_BYTES."""
    if len(lines) <= CHUNK_BYTES:
        return [lines]
    parts = []
    start = 0
    while start < len(lines):
        cut = lines.rfind("\n", start, start + CHUNK_BYTES) + 1
        if cut <= start:  # a part shorter than one line: only the last can be
            cut = len(lines)
        parts.append(lines[start:cut])
        start = cut
    return parts


@dataclass(frozen=True)
class Generation:
    number: int
    buckets: int
    applied: int  # the number of the last do-not-call change it holds

    @classmethod
    def parse(cls, raw: bytes | str | None) -> Generation | None:
        """A marker; None when there is none, or one this version cannot trust (a marker
        without its change number is rebuilt)."""
        if raw is None:
            return None
        parts = (raw.decode() if isinstance(raw, bytes) else raw).split(" ")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))

    def marker(self) -> str:
        return f"{self.number} {self.buckets} {self.applied}"

    def at(self, applied: int) -> Generation:
        return Generation(self.number, self.buckets, applied)


class CatchUpImpossible(Exception):
    """The changes the cache lacks are no longer kept: only a rebuild can bring it back."""


class DncCache:
    def __init__(
        self,
        redis: Redis,
        pool: asyncpg.Pool,
        keys: Keys,
        clock: Callable[[], datetime] | None = None,
        known: KnownChanges | None = None,
    ) -> None:
        self._redis = redis
        self._pool = pool
        self._keys = keys
        self.known = known or KnownChanges()
        self._change = redis.register_script(lua("dnc_change.lua"))
        self.restore = RedisRestore(redis, keys, clock or (lambda: datetime.now(UTC)))
        self._go_live = redis.register_script(_GO_LIVE)
        self._renew = redis.register_script(_RENEW)
        self._watchdog: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        # Changes this process made and has not seen applied yet, by number: applied from
        # here, in order, rather than read back from PostgreSQL.
        self._made: dict[int, str] = {}
        self._publishing = asyncio.Lock()
        self._lagging: tuple[float, int] | None = None  # since when, behind which number
        self.last_rebuild_seconds: float | None = None

    async def live(self) -> Generation | None:
        return Generation.parse(await self._redis.get(self._keys.dnc_current))

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

    def wake(self) -> None:
        """A check found the cache behind: catch up now rather than at the next round."""
        self._wake.set()

    # applying numbered changes

    async def publish(self, seq: int, lines: str) -> bool:
        """Apply change `seq` (just committed by this process) to the live generation.
        True once the generation holds it (and so every change before it); False when
        Redis is unreachable, has no live generation, or stays behind for
        PUBLISH_SECONDS. Raises nothing: the change is committed either way, and a cache
        without it makes checks deny until it catches up."""
        self._made[seq] = lines
        try:
            async with asyncio.timeout(PUBLISH_SECONDS):
                for attempt in range(GAP_WAITS + 1):
                    applied = await self._apply_made(seq)
                    if applied < 0:
                        return False
                    if applied >= seq:
                        return True
                    if attempt < GAP_WAITS:
                        # An earlier change (another process's) is on its way: let it land.
                        await asyncio.sleep(0.002 * 2**attempt)
                gen = await self.catch_up(seq)
                return gen is not None and gen.applied >= seq
        except (RedisError, OSError, TimeoutError, CatchUpImpossible, asyncpg.PostgresError) as e:
            log.warning(
                "do-not-call change not applied to the cache: %s",
                str(e) or type(e).__name__,
                extra={"fields": {"change": seq}},
            )
            return False
        finally:
            del self._made[seq]

    async def _apply_made(self, seq: int) -> int:
        """Apply `seq`, and before it the changes this process made that the live
        generation lacks. Returns its applied number (-1: no live generation)."""
        async with self._publishing:
            key = self._keys.dnc_current
            applied = await self._apply_change(key, seq - 1, seq, self._made[seq])
            while 0 <= applied < seq and (applied + 1) in self._made:
                after = applied + 1
                applied = await self._apply_change(key, applied, after, self._made[after])
            return applied

    async def _apply_change(self, key: str, after: int, seq: int, lines: str) -> int:
        """Apply change `seq` to the generation of marker `key` if it holds `after`
        (= seq - 1); a large change goes in parts, the last recording the number. Returns
        the marker's applied number afterwards, -1 when there is no marker."""
        prefix = self._keys.dnc_prefix
        parts = _parts(lines)
        if len(parts) == 1:
            return int(await self._change(keys=[key], args=[prefix, after, seq, lines]))
        pipe = self._redis.pipeline(transaction=False)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            await self._change(
                keys=[key], args=[prefix, after, seq if last else "", part], client=pipe
            )
        results: list[int] = await pipe.execute()
        return int(results[-1])

    async def catch_up(self, target: int, key: str | None = None) -> Generation | None:
        """Replay the changes after the generation's applied number up to `target` from
        PostgreSQL, in order. Returns the generation as it is then (None: no marker).
        Raises CatchUpImpossible when the changes are no longer kept."""
        key = key or self._keys.dnc_current
        gen = Generation.parse(await self._redis.get(key))
        while gen is not None and gen.applied < target:
            async with self._pool.acquire() as conn:
                changes = await dnc_changes.read(conn, gen.applied, target, CATCH_UP_CHANGES)
            if not changes or changes[0].seq != gen.applied + 1:
                raise CatchUpImpossible(
                    f"do-not-call changes after {gen.applied} are no longer kept"
                )
            for change in changes:
                applied = await self._apply_change(key, change.seq - 1, change.seq, change.lines)
                if applied < 0:
                    return None
                gen = gen.at(applied)
                if applied != change.seq:
                    break  # another process moved it on: read from where it is
        return gen

    async def _catch_up_live(self) -> None:
        """Bring the live generation up to every change this process has heard of; a
        cache too far behind is rebuilt."""
        try:
            await self.catch_up(self.known.latest)
        except CatchUpImpossible as e:
            log.warning("%s; rebuilding the do-not-call cache", e)
            await self.rebuild()

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
            number = int(await self._redis.incr(self._keys.dnc_generation_seq))
            gen = Generation(number, bucket_count(max(int(count), min_entries)), 0)
            await self._redis.set(self._keys.dnc_building, gen.marker(), px=_LOCK_MS)
            gen = await self._while_held(token, self._fill(conn, gen))
        building = [self._keys.dnc_current, self._keys.dnc_building]
        for attempt in range(GO_LIVE_TRIES):
            # The changes made since the snapshot, then live if no change came meanwhile
            # (the last try goes live regardless: a generation behind is only degraded).
            target = max(await dnc_changes.latest(self._pool), self.known.latest)
            caught = await self._while_held(token, self.catch_up(target, self._keys.dnc_building))
            if caught is None:
                raise RebuildLost("the generation being built vanished from Redis")
            gen = caught
            old = await self.live()
            last = "1" if attempt == GO_LIVE_TRIES - 1 else "0"
            result = await self._go_live(keys=building, args=[gen.marker(), last])
            if result < 0:
                # Redis flushed or restarted meanwhile would leave it incomplete.
                raise RebuildLost("the generation being built vanished from Redis")
            if result == 0:
                break
        if old is not None and old.number != gen.number:
            await self._drop_generation(old.number)
        return gen

    async def _fill(self, conn: Conn, gen: Generation) -> Generation:
        """The list as of one snapshot of PostgreSQL, with that snapshot's change number;
        then the attempts and answers."""
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            gen = gen.at(await dnc_changes.latest(conn))
            await self._redis.set(self._keys.dnc_building, gen.marker(), keepttl=True)
            await self._copy_generation(conn, gen)
        await self.restore.restore_attempts(conn)
        await self.restore.restore_answers(conn)
        return gen

    async def _while_held(self, token: str, work: Coroutine[Any, Any, T]) -> T:
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

    async def _copy_generation(self, conn: Conn, gen: Generation) -> None:
        """Stream the active entries out of PostgreSQL, already written as the change
        script's lines, into the generation being built: parts of one change that the
        generation's snapshot number already counts (written, the number left as it is)."""
        await copy_lines(
            self._redis,
            conn,
            _REBUILD_LINES,
            script=self._change,
            keys=[self._keys.dnc_building],
            head=[self._keys.dnc_prefix, str(gen.applied), ""],
        )

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
        """Rebuild when no complete generation is live (Redis restarted empty or flushed);
        catch up when the live one lacks a change that checks require, or has lacked
        one this process heard of for a round."""
        gen = await self.live()
        if gen is None:
            await self.rebuild()
            return
        latest = self.known.latest
        if gen.applied >= latest:
            self._lagging = None
            return
        now = time.monotonic()
        if gen.applied < self.known.required():
            await self._catch_up_live()
        elif self._lagging is None or gen.applied >= self._lagging[1]:
            # Behind what was heard: its own process is applying it. Look again later.
            self._lagging = (now, latest)
        elif now - self._lagging[0] >= CATCH_UP_AFTER_SECONDS:
            await self._catch_up_live()
            self._lagging = None

    def start_watchdog(self, interval: float = 0.5) -> None:
        self._watchdog = asyncio.create_task(self._watch(interval), name="dnc-watchdog")

    async def stop_watchdog(self) -> None:
        await stop(self._watchdog)

    async def _watch(self, interval: float) -> None:
        failing_since: float | None = None
        last_warned = 0.0
        while True:
            raise_if_stopping()
            self._wake.clear()
            try:
                await self.ensure()
                if failing_since is not None:
                    log.info(
                        "dnc cache reachable again after %.0f s", time.monotonic() - failing_since
                    )
                    failing_since = None
            except Exception as e:  # whatever failed (asyncpg's pool too), it lives on
                now = time.monotonic()
                failing_since = failing_since or now
                if now - last_warned >= WARN_EVERY_SECONDS:
                    last_warned = now
                    log.warning(
                        "dnc cache check failed (checks deny meanwhile): %s",
                        str(e) or type(e).__name__,
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
