"""The pre-call check's conversation with Redis: one script call (`precheck.lua`) that
finds the facts, counts the attempt and places the idempotency marker; then the answer
stored for retries, an earlier request's marker replaced by its answer, or what an
unrecorded check left taken back.

The commands go through a `RedisPipe`: the commands of checks running at the same time
share one write on one connection instead of taking a pool connection each; each check
still waits for its own command's reply and sees its errors as redis-py raised them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from gateway.policy import DncScope, FactQuery, Facts
from gateway.store.answers import IDEMPOTENCY_SECONDS, replay_value
from gateway.store.dnc_changes import KnownChanges
from gateway.store.keys import Keys
from gateway.store.redis_pipe import RedisPipe
from gateway.store.scripts import digits, lua

log = logging.getLogger("gateway.precheck")

# KEYS[1] an idempotency key; ARGV[1] the pending marker it must still hold, ARGV[2] the
# answer to put in its place, ARGV[3] for how many ms.
_REPLACE_MARKER = """
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return 1
"""

# KEYS[1] an idempotency key; ARGV[1] the pending marker to remove, if it is still that.
_FORGET_MARKER = """
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
"""


def script_query(q: FactQuery, others_pass: bool, required: int) -> str:
    """ARGV[3] of precheck.lua: the query, whether every other rule passed, and the
    do-not-call change number the cache must have applied."""
    return (
        f"{'am' if 'marketing' in q.dnc_blocking_scopes else 'a'}"
        f" {1 if q.counts_attempts else 0} {1 if others_pass else 0} {q.now_ms}"
        f" {q.day_start_ms} {q.week_start_ms}"
        f" {-1 if q.per_day is None else q.per_day}"
        f" {-1 if q.per_7_days is None else q.per_7_days} {q.min_gap_ms}"
        f" {required}"
    )


def script_reply(raw: bytes) -> tuple[str, Facts, bool, bytes]:
    """precheck.lua's reply: its status, the facts it found (meaningful when the status
    is "ok"), whether it counted the attempt, and what it stored."""
    status, scope, today, week, last, counted, stored = raw.split(b"|", 6)
    last_ms = int(last)
    facts = Facts(
        dnc_scope=cast("DncScope | None", scope.decode() or None),
        attempts_today=int(today),
        attempts_7_days=int(week),
        last_attempt_ms=None if last_ms < 0 else last_ms,
    )
    return status.decode(), facts, counted == b"1", stored


def pending_marker(digest: str, call_id: str) -> str:
    """The value precheck.lua leaves at an idempotency key while its check runs."""
    return f"P|{digest}|{call_id}"


class CheckScript:
    """The check's Redis commands, on the checks' own connection. `facts` is the one
    command of every check; the rest are for retries, failures, readiness and shutdown."""

    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        known: KnownChanges,
        *,
        timeout: float,
        behind: Callable[[], None] = lambda: None,
    ) -> None:
        self._keys = keys
        self._known = known
        self._behind = behind
        self._timeout = timeout  # the facts' share of a check's time, in seconds
        self._pipe = RedisPipe.for_client(redis)
        self._replace_marker = redis.register_script(_REPLACE_MARKER)
        self._source = lua("precheck.lua").encode()
        self._sha = hashlib.sha1(self._source).hexdigest()

    async def _run(self, *keys_and_args: Any) -> Any:
        """The script's reply, or TimeoutError after the facts' share of the check's time
        (a timer on the command's own future: a timeout scope costs a check several µs)."""
        command = self._pipe.send("EVALSHA", self._sha, 3, *keys_and_args)
        timer = asyncio.get_running_loop().call_later(self._timeout, _expire, command)
        try:
            return await command
        except NoScriptError:
            pass
        except asyncio.CancelledError:
            # A client the pipe sends through (TLS) gives a task, which the timer cancels.
            task = asyncio.current_task()
            if command.cancelled() and task is not None and not task.cancelling():
                raise TimeoutError from None
            raise
        finally:
            timer.cancel()
        async with asyncio.timeout(self._timeout):
            # Redis restarted or was flushed: load the script again, once.
            sha = await self._pipe.send("SCRIPT", "LOAD", self._source)
            self._sha = sha.decode() if isinstance(sha, bytes) else str(sha)
            return await self._pipe.send("EVALSHA", self._sha, 3, *keys_and_args)

    async def facts(
        self,
        q: FactQuery,
        *,
        others_pass: bool,
        member: str,
        idem_key: str,
        digest: str,
        mode: str,
        takeover: str = "",
    ) -> tuple[str, Facts, bool, bytes]:
        """The script's status ("ok", "replay", "conflict", "pending" or "degraded"), the
        facts (degraded ones when Redis or its cache cannot tell), whether the attempt was
        counted, and what the script found stored (an answer to replay, a pending call
        id)."""
        try:
            script = self._run(
                self._keys.dnc_current,
                self._keys.attempts(q.e164) if q.e164 else "",
                idem_key,
                mode,
                str(digits(q.e164)) if q.e164 else "",
                script_query(q, others_pass, self._known.required()),
                member,
                digest,
                self._keys.dnc_prefix,
                takeover,
            )
            raw: bytes = await script
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("redis unavailable for a check: %s", str(e) or type(e).__name__)
            return "degraded", Facts(degraded="Redis is unreachable"), False, b""
        status, facts, counted, stored = script_reply(raw)
        if status == "degraded":
            return status, Facts(degraded="the do-not-call cache is incomplete"), False, b""
        if status == "behind":
            self._behind()
            why = (
                "the do-not-call cache lacks a recent change"
                if self._known.listening
                else "not listening for do-not-call changes (reconnecting to PostgreSQL)"
            )
            return "degraded", Facts(degraded=why), False, b""
        return status, facts, counted, stored

    def keep_answer(self, idem_key: str, digest: str, body: bytes) -> None:
        """Store a recorded check's answer for the retries of its request_id (a day).

        Not awaited, and sent with the next check's command: the pipe writes commands in
        order on one connection, so any later command of this process (a retry of this
        request_id included) reaches Redis after this one; a retry through another
        process that overtakes it sees the pending marker and waits for it. Should this
        process die first, the marker (kept a day) leads the retry to the decision in
        PostgreSQL."""
        self._pipe.send_later(
            "SET", idem_key, replay_value(digest, body), "EX", IDEMPOTENCY_SECONDS
        ).add_done_callback(_warn_if_not_stored)

    async def replace_marker(
        self, idem_key: str, digest: str, call_id: str, stored: bytes, left_ms: int, within: float
    ) -> None:
        """Put an earlier request's answer (`stored`, a replay value) in place of its
        pending marker, for `left_ms`: only over that request's own marker, never over a
        newer answer. A failure is logged, not raised: the answer is given either way."""
        try:
            await asyncio.wait_for(
                self._replace_marker(
                    keys=[idem_key], args=[pending_marker(digest, call_id), stored, left_ms]
                ),
                within,
            )
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("could not store the idempotent answer: %s", e)

    def undo(
        self, e164: str | None, counted: bool, member: str, idem_key: str, digest: str
    ) -> None:
        """Take back what an unrecorded check left in Redis: its attempt (when `counted`),
        and its pending marker if still there (not another request's). Sent, not awaited:
        the answer does not wait for it."""
        if counted and e164:
            zrem = self._pipe.send("ZREM", self._keys.attempts(e164), member)
            zrem.add_done_callback(_warn_if_not_undone)
        if idem_key:
            marker = pending_marker(digest, member)
            forget = self._pipe.send("EVAL", _FORGET_MARKER, 1, idem_key, marker)
            forget.add_done_callback(_warn_if_not_undone)

    async def ping(self) -> None:
        """A round trip on the checks' own connection to Redis."""
        await asyncio.wait_for(self._pipe.send("PING"), self._timeout)

    async def close(self) -> None:
        """Stores the answers still queued for Redis, then closes the connection."""
        await self._pipe.drain()
        self._pipe.close()


def _warn_if_not_stored(stored: asyncio.Future[Any]) -> None:
    if not stored.cancelled() and stored.exception() is not None:
        log.warning("could not store the idempotent answer: %s", stored.exception())


def _warn_if_not_undone(undone: asyncio.Future[Any]) -> None:
    if not undone.cancelled() and undone.exception() is not None:
        log.warning("could not undo the attempt of an unrecorded check: %s", undone.exception())


def _expire(command: asyncio.Future[Any]) -> None:
    if command.done():
        return
    if isinstance(command, asyncio.Task):
        command.cancel()
    else:
        command.set_exception(TimeoutError())
