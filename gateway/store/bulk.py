"""Bulk script calls into Redis for a rebuild: lines streamed out of PostgreSQL, cut at
line ends into calls of about CHUNK_BYTES, sent several a round trip by a writer task
while the next ones are being read."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from redis.commands.core import AsyncScript as Script
from redis.exceptions import RedisError

from gateway.core.aliases import Conn
from gateway.core.tasks import abandon

CHUNK_BYTES = 32_768  # a bulk script call: about 2,000 entries, a millisecond or two of Redis
CALLS_PER_ROUND_TRIP = 16
REBUILD_QUEUE = 16
REBUILD_TIMEOUT = 3600.0  # the stream of a whole list: far beyond the pool's per-query limit


class RebuildLost(RedisError):
    """The generation being built disappeared (Redis flushed or restarted)."""


class Feed:
    """A writer task sending a rebuild's bulk script calls, several a round trip, while
    the next ones are being made. `send` a call's arguments; leaving the `async with`
    waits for the last call."""

    def __init__(self, redis: Redis, script: Script, keys: list[str]) -> None:
        self._redis = redis
        self._script = script
        self._keys = keys
        self._calls: asyncio.Queue[list[str | bytes] | None] = asyncio.Queue(REBUILD_QUEUE)
        self._writer: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Feed:
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


async def copy_lines(
    redis: Redis,
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
    async with Feed(redis, script, keys) as feed:
        held: list[bytes] = []
        held_bytes = 0
        failure: Exception | None = None

        async def collect(data: bytes) -> None:
            nonlocal held_bytes, failure
            held.append(data)
            held_bytes += len(data)
            if held_bytes >= CHUNK_BYTES:
                joined = b"".join(held)
                cut = joined.rfind(b"\n") + 1  # PostgreSQL ends every line with one
                held[:] = [joined[cut:]]
                held_bytes = len(held[0])
                try:
                    await feed.send([*head, joined[:cut]])
                except Exception as e:
                    failure = e
                    raise

        try:
            await conn.copy_from_query(query, *params, output=collect, timeout=REBUILD_TIMEOUT)
        except Exception:
            # asyncpg stops the COPY when the output fails, and on Python 3.11 its own
            # timeout may report that as a TimeoutError: the writer's error is the cause.
            if failure is not None:
                raise failure from None
            raise
        if held_bytes:
            await feed.send([*head, b"".join(held)])
