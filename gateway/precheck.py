"""The pre-call check: gather the facts (registry snapshot in memory, one Redis script
call), let the pure policy engine judge, make the decision durable, then answer.

The Redis commands go through a `RedisPipe`: the commands of checks running at the same
time share one write on one connection instead of taking a pool connection each; each
check still waits for its own command's reply and sees its errors as redis-py raised them."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import msgspec
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from gateway import metrics
from gateway.answers import (
    IDEMPOTENCY_SECONDS,
    PrecheckAnswer,
    body_hash,
    encode,
    ms_left,
    replay_from_decision,
    replay_value,
)
from gateway.auth import Principal
from gateway.errors import RequestIdConflict, Unavailable
from gateway.ids import uuid7_text
from gateway.policy import (
    CallContext,
    CheckRequest,
    DncScope,
    FactQuery,
    Facts,
    Verdict,
    build_context,
    fact_query,
    judge,
    static_reasons,
)
from gateway.revision import RULES_REVISION
from gateway.snapshot import RegistryCache
from gateway.store.decisions import DecisionLog, DecisionLogUnavailable, DecisionRecord
from gateway.store.dnc_cache import digits, lua
from gateway.store.dnc_changes import KnownChanges
from gateway.store.keys import Keys
from gateway.store.redis_pipe import RedisPipe

log = logging.getLogger("gateway.precheck")

# An earlier request with the same request_id whose pending marker is older than its
# time limit by this much has ended: answered (its decision is in PostgreSQL) or not.
_PENDING_MARGIN_MS = 1000
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


def _warn_if_not_stored(stored: asyncio.Future[Any]) -> None:
    if not stored.cancelled() and stored.exception() is not None:
        log.warning("could not store the idempotent answer: %s", stored.exception())


def _warn_if_not_undone(undone: asyncio.Future[Any]) -> None:
    if not undone.cancelled() and undone.exception() is not None:
        log.warning("could not undo the attempt of an unrecorded check: %s", undone.exception())


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


class PreCallChecker:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        registries: RegistryCache,
        decisions: DecisionLog,
        valid_seconds: int = 60,
        clock: Callable[[], datetime] | None = None,
        *,
        known: KnownChanges,
        behind: Callable[[], None] = lambda: None,
        timeout_ms: int = 2000,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._known = known
        self._behind = behind
        self._timeout = timeout_ms / 1000
        # Redis may take at most this share of a check's time; the rest is for storing the
        # decision (a check without its facts is still judged, degraded, and recorded).
        self._facts_timeout = self._timeout / 2
        self._pending_stale_ms = timeout_ms + _PENDING_MARGIN_MS
        self._redis = redis
        self._keys = keys
        self._registries = registries
        self._decisions = decisions
        self._valid = timedelta(seconds=valid_seconds)
        self._pipe = RedisPipe.for_client(redis)
        self._replace_marker = redis.register_script(_REPLACE_MARKER)
        self._script_source = lua("precheck.lua").encode()
        self._script_sha = hashlib.sha1(self._script_source).hexdigest()

    async def _run_script(self, *keys_and_args: Any) -> Any:
        """The script's reply, or TimeoutError after the facts' share of the check's time
        (a timer on the command's own future: a timeout scope costs a check several µs)."""
        command = self._pipe.send("EVALSHA", self._script_sha, 3, *keys_and_args)
        timer = asyncio.get_running_loop().call_later(self._facts_timeout, _expire, command)
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
        async with asyncio.timeout(self._facts_timeout):
            # Redis restarted or was flushed: load the script again, once.
            sha = await self._pipe.send("SCRIPT", "LOAD", self._script_source)
            self._script_sha = sha.decode() if isinstance(sha, bytes) else str(sha)
            return await self._pipe.send("EVALSHA", self._script_sha, 3, *keys_and_args)

    async def _facts(
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
        try:
            script = self._run_script(
                self._keys.dnc_current,
                self._keys.attempts(q.e164) if q.e164 else "",
                idem_key,
                mode,
                str(digits(q.e164)) if q.e164 else "",
                script_query(q, others_pass, self._known.required()),
                member,
                digest,
                f"{self._keys.prefix}dnc:",
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

    async def check(self, request: CheckRequest, who: Principal) -> bytes:
        """The answer, within the check's time limit: its decision, a degraded deny, or
        Unavailable (503) when no decision could be recorded in time."""
        started = time.perf_counter()
        deadline = time.monotonic() + self._timeout
        idem_key = (
            self._keys.idempotency(who.token_id, request.request_id) if request.request_id else ""
        )
        encoded = encode(request)  # hashed for the retry check and stored with the decision
        digest = body_hash(encoded) if idem_key else ""
        takeover = ""
        while True:
            now = self._clock()
            ctx = build_context(request, now, self._registries.current)
            static = static_reasons(ctx)
            q = fact_query(ctx)
            call_id = uuid7_text(q.now_ms)
            status, facts, counted, stored = await self._facts(
                q,
                others_pass=not static,
                member=call_id,
                idem_key=idem_key,
                digest=digest,
                mode="check",
                takeover=takeover,
            )
            if status == "replay":
                return stored
            if status == "conflict":
                raise RequestIdConflict(
                    f"request_id {request.request_id} was used with a different body"
                )
            if status != "pending":
                break
            earlier = await self._after_pending(
                request, who, idem_key, digest, stored.decode(), q.now_ms, deadline
            )
            if isinstance(earlier, bytes):
                return earlier
            takeover = earlier
        verdict = judge(ctx, static, facts, q)
        answer = self._answer(ctx, verdict, call_id, now)
        record = self._record(ctx, verdict, call_id, now, answer, who, encoded)
        try:
            await self._decisions.write(record, within=deadline - time.monotonic())
        except DecisionLogUnavailable as e:
            self._undo(q, counted, call_id, idem_key, digest)
            raise Unavailable("the decision could not be recorded; do not dial") from e
        except TimeoutError as e:
            # It may still be stored: the attempt stays counted (the safe side of a cap);
            # the request_id is freed, since a 503 binds nothing.
            self._undo(q, False, call_id, idem_key, digest)
            raise Unavailable("the decision could not be recorded in time; do not dial") from e
        body = encode(answer)
        if idem_key and status == "ok":
            # Not awaited, and sent with the next check's command: the pipe writes commands
            # in order on one connection, so any later command of this process (a retry of
            # this request_id included) reaches Redis after this one; a retry through
            # another process that overtakes it sees the pending marker and waits for it.
            # Should this process die first, the marker (kept a day) leads the retry to the
            # decision in PostgreSQL.
            self._pipe.send_later(
                "SET", idem_key, replay_value(digest, body), "EX", IDEMPOTENCY_SECONDS
            ).add_done_callback(_warn_if_not_stored)
        metrics.CHECKS.labels(verdict.decision).inc()
        for reason in verdict.reasons:
            metrics.CHECK_REASONS.labels(reason.code).inc()
        metrics.CHECK_LATENCY.observe(time.perf_counter() - started)
        return body

    async def _after_pending(
        self,
        request: CheckRequest,
        who: Principal,
        idem_key: str,
        digest: str,
        pending_id: str,
        now_ms: int,
        deadline: float,
    ) -> bytes | str:
        """An earlier request with this request_id left its pending marker. While it may
        still be running, wait (a little at a time) for its answer; once it has ended: its
        answer from PostgreSQL when its decision was stored (bytes), else its call id, to
        take its marker over and judge this request afresh (str). Raises Unavailable when
        this check's own time runs out first."""
        started_ms = _uuid7_ms(pending_id)
        ended = started_ms is not None and now_ms - started_ms > self._pending_stale_ms
        if not ended and time.monotonic() + 0.01 < deadline - self._facts_timeout:
            await asyncio.sleep(0.01)
            return ""  # look again
        answered = await self._answered(request, who, idem_key, digest, pending_id, deadline)
        if answered is not None:
            return answered
        if ended:
            return pending_id
        raise Unavailable("an earlier request with this request_id is still running")

    async def _answered(
        self,
        request: CheckRequest,
        who: Principal,
        idem_key: str,
        digest: str,
        call_id: str,
        deadline: float,
    ) -> bytes | None:
        """The answer of the earlier request with this request_id (its call id from its
        pending marker), when its decision was stored but the answer never reached Redis
        (its process ended in between), then also kept for the retries after this one;
        None when it has no stored decision."""
        try:
            pending = uuid.UUID(call_id)
        except ValueError:  # a marker without its call id
            raise Unavailable("an earlier request with this request_id is still running") from None
        try:
            row = await asyncio.wait_for(
                self._decisions.answered(pending, who.token_id, request.request_id),
                max(deadline - time.monotonic(), 0.001),
            )
        except (asyncpg.PostgresError, OSError, TimeoutError) as e:
            raise Unavailable("the decision log could not be read; try again") from e
        if row is None:
            return None
        try:
            stored = replay_from_decision(row)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:  # not a check's row
            raise Unavailable("an earlier request with this request_id is unreadable") from e
        left_ms = ms_left(row["created_at"], self._clock())
        if left_ms > 0:
            try:
                # Only over that request's own marker: never over a newer answer.
                await asyncio.wait_for(
                    self._replace_marker(
                        keys=[idem_key], args=[f"P|{digest}|{call_id}", stored, left_ms]
                    ),
                    max(deadline - time.monotonic(), 0.001),
                )
            except (RedisError, OSError, TimeoutError) as e:
                log.warning("could not store the idempotent answer: %s", e)
        return stored[len(digest) + 3 :]

    async def ping(self) -> None:
        """A round trip on the checks' own connection to Redis."""
        await asyncio.wait_for(self._pipe.send("PING"), self._facts_timeout)

    async def close(self) -> None:
        """Stores the answers still queued for Redis, then closes the connection."""
        await self._pipe.drain()
        self._pipe.close()

    async def simulate(self, request: CheckRequest, at: datetime) -> PrecheckAnswer:
        ctx = build_context(request, at, self._registries.current)
        static = static_reasons(ctx)
        q = fact_query(ctx)
        _, facts, _, _ = await self._facts(
            q, others_pass=False, member="", idem_key="", digest="", mode="peek"
        )
        verdict = judge(ctx, static, facts, q)
        return self._answer(ctx, verdict, None, at)

    def _answer(
        self, ctx: CallContext, verdict: Verdict, call_id: str | None, now: datetime
    ) -> PrecheckAnswer:
        return PrecheckAnswer(
            decision=verdict.decision,
            call_id=call_id,
            callee_e164=ctx.callee.e164 if ctx.callee else None,
            reasons=verdict.reasons,
            recording_required=True,
            valid_until=(now + self._valid).replace(microsecond=0).astimezone(_local_tz(ctx)),
            policy_version=f"r{ctx.snapshot.version}",
            rules_revision=RULES_REVISION,
        )

    def _record(
        self,
        ctx: CallContext,
        verdict: Verdict,
        call_id: str,
        now: datetime,
        answer: PrecheckAnswer,
        who: Principal,
        encoded: bytes,
    ) -> DecisionRecord:
        req = ctx.request
        return DecisionRecord(
            call_id=call_id,
            created_at=now,
            decision=verdict.decision,
            reasons=encode(verdict.reasons).decode(),
            request=encoded.decode(),
            callee_e164=answer.callee_e164,
            caller_id=req.caller_id,
            agent_id=req.agent_id,
            campaign_id=req.campaign_id,
            purpose=req.purpose,
            list_id=req.list_id,
            policy_version=answer.policy_version,
            rules_revision=answer.rules_revision,
            token_name=who.name,
            token_id=who.token_id,
            request_id=req.request_id,
            valid_until=answer.valid_until,
        )

    def _undo(self, q: FactQuery, counted: bool, member: str, idem_key: str, digest: str) -> None:
        """Take back what an unrecorded check left in Redis: its attempt, and its pending
        marker if still there (not another request's). Sent, not awaited: the answer does
        not wait for it."""
        if counted and q.e164:
            zrem = self._pipe.send("ZREM", self._keys.attempts(q.e164), member)
            zrem.add_done_callback(_warn_if_not_undone)
        if idem_key:
            marker = f"P|{digest}|{member}"
            forget = self._pipe.send("EVAL", _FORGET_MARKER, 1, idem_key, marker)
            forget.add_done_callback(_warn_if_not_undone)


def _local_tz(ctx: CallContext) -> Any:
    return ctx.local_now.tzinfo


def _expire(command: asyncio.Future[Any]) -> None:
    if command.done():
        return
    if isinstance(command, asyncio.Task):
        command.cancel()
    else:
        command.set_exception(TimeoutError())


def _uuid7_ms(text: str) -> int | None:
    """The time a call id (a uuid7) was made, in ms since the epoch."""
    try:
        return uuid.UUID(text).int >> 80
    except ValueError:
        return None
