"""What Redis held besides the do-not-call list that PostgreSQL can tell again, put back
by a rebuild of the cache: the attempt counters, from the week's allowed decisions, and
the answers a retry with the same request_id gets, from the last day's decisions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec
from redis.asyncio import Redis

from gateway.core.aliases import Conn
from gateway.policy import counted_purposes
from gateway.store.answers import (
    ANSWER_COLUMNS,
    BINDING,
    IDEMPOTENCY_SECONDS,
    ms_left,
    replay_from_decision,
)
from gateway.store.bulk import CHUNK_BYTES, REBUILD_TIMEOUT, Feed, copy_lines
from gateway.store.keys import Keys
from gateway.store.registry_rows import load_policy
from gateway.store.scripts import lua

log = logging.getLogger("gateway.dnc")

ATTEMPTS_TTL_MS = 8 * 86_400_000  # the same as the check script's

# The allowed decisions whose attempts count (of the purposes the stored policy counts),
# as attempts_restore.lua's lines; the time in whole milliseconds, as the check counts it.
_ATTEMPT_LINES = """
SELECT callee_e164 || ' ' || floor(extract(epoch FROM created_at) * 1000)::bigint || ' '
    || call_id FROM calls
WHERE created_at > $1 AND decision = 'allow' AND purpose = ANY($2::text[])
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


class RedisRestore:
    def __init__(self, redis: Redis, keys: Keys, clock: Callable[[], datetime]) -> None:
        # The clock the checks stamp their decisions with: the attempts restored after a
        # rebuild are the week before it, not before the database server's time.
        self._clock = clock
        self._redis = redis
        self._keys = keys
        self._attempts_script = redis.register_script(lua("attempts_restore.lua"))
        self._answers_script = redis.register_script(lua("answers_restore.lua"))

    async def restore_attempts(self, conn: Conn) -> None:
        """Counters live only in Redis; after Redis lost them, count again from the
        allowed decisions of the last week (member = call id, so re-adding is harmless)
        of the purposes the policy in force counts."""
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            purposes = sorted(counted_purposes(await load_policy(conn)))
            await copy_lines(
                self._redis,
                conn,
                _ATTEMPT_LINES,
                self._clock() - timedelta(milliseconds=ATTEMPTS_TTL_MS),
                purposes,
                script=self._attempts_script,
                keys=[],
                head=[self._keys.attempts_prefix, str(ATTEMPTS_TTL_MS)],
            )

    async def restore_answers(self, conn: Conn) -> None:
        """A retry's answer lives only in Redis; after Redis lost it, put back the answer
        of each (token, request_id) of the last day, for what is left of its day.
        Checks denied because Redis was unreachable left none (a retry is checked
        again), so they are not put back; an answer still in Redis stays as it is."""
        now = self._clock()
        unreadable = 0
        async with (
            conn.transaction(isolation="repeatable_read", readonly=True),
            Feed(self._redis, self._answers_script, []) as feed,
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
