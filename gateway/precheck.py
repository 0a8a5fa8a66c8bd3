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
from gateway.errors import ApiError, Unavailable
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
from gateway.snapshot import RegistryCache
from gateway.store.decisions import DecisionLog, DecisionLogUnavailable, DecisionRecord
from gateway.store.dnc_cache import digits, lua
from gateway.store.keys import Keys
from gateway.store.redis_pipe import RedisPipe

log = logging.getLogger("gateway.precheck")

_PENDING_WAIT_SECONDS = 5.0
# KEYS[1] an idempotency key; ARGV[1] the pending marker it must still hold, ARGV[2] the
# answer to put in its place, ARGV[3] for how many ms.
_REPLACE_MARKER = """
if redis.call("GET", KEYS[1]) ~= ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
return 1
"""


class RequestIdConflict(ApiError):
    status = 409
    code = "request_id_conflict"


def _warn_if_not_stored(stored: asyncio.Future[Any]) -> None:
    if not stored.cancelled() and stored.exception() is not None:
        log.warning("could not store the idempotent answer: %s", stored.exception())


class PreCallChecker:
    def __init__(
        self,
        redis: Redis,
        keys: Keys,
        registries: RegistryCache,
        decisions: DecisionLog,
        valid_seconds: int = 60,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
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
        try:
            return await self._pipe.send("EVALSHA", self._script_sha, 3, *keys_and_args)
        except NoScriptError:
            # Redis restarted or was flushed: load the script again, once.
            self._script_sha = await self._redis.script_load(self._script_source)
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
    ) -> tuple[str, Facts, bool, bytes]:
        try:
            raw: bytes = await self._run_script(
                self._keys.dnc_current,
                self._keys.attempts(q.e164) if q.e164 else "",
                idem_key,
                mode,
                str(digits(q.e164)) if q.e164 else "",
                f"{'am' if 'marketing' in q.dnc_blocking_scopes else 'a'}"
                f" {1 if q.counts_attempts else 0} {1 if others_pass else 0} {q.now_ms}"
                f" {q.day_start_ms} {q.week_start_ms}"
                f" {-1 if q.per_day is None else q.per_day}"
                f" {-1 if q.per_7_days is None else q.per_7_days} {q.min_gap_ms}",
                member,
                digest,
                f"{self._keys.prefix}dnc:",
            )
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("redis unavailable for a check: %s", e)
            return "degraded", Facts(degraded="Redis is unreachable"), False, b""
        status_raw, scope_raw, today, week, last, counted, stored = raw.split(b"|", 6)
        status = status_raw.decode()
        if status == "degraded":
            return status, Facts(degraded="the do-not-call cache is incomplete"), False, b""
        last_ms = int(last)
        facts = Facts(
            dnc_scope=cast("DncScope | None", scope_raw.decode() or None),
            attempts_today=int(today),
            attempts_7_days=int(week),
            last_attempt_ms=None if last_ms < 0 else last_ms,
        )
        return status, facts, counted == b"1", stored

    async def check(self, request: CheckRequest, who: Principal) -> bytes:
        started = time.perf_counter()
        idem_key = (
            self._keys.idempotency(who.token_id, request.request_id) if request.request_id else ""
        )
        encoded = encode(request)  # hashed for the retry check and stored with the decision
        digest = body_hash(encoded) if idem_key else ""
        deadline = time.monotonic() + _PENDING_WAIT_SECONDS
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
            )
            if status == "replay":
                return stored
            if status == "conflict":
                raise RequestIdConflict(
                    f"request_id {request.request_id} was used with a different body"
                )
            if status != "pending":
                break
            if time.monotonic() > deadline:
                return await self._answered(request, who, idem_key, digest, stored.decode())
            await asyncio.sleep(0.01)
        verdict = judge(ctx, static, facts, q)
        answer = self._answer(ctx, verdict, call_id, now)
        record = self._record(ctx, verdict, call_id, now, answer, who, encoded)
        try:
            await self._decisions.write(record)
        except DecisionLogUnavailable as e:
            await self._undo(q, counted, call_id, idem_key)
            raise Unavailable("the decision could not be recorded; do not dial") from e
        body = encode(answer)
        if idem_key and status == "ok":
            # Not awaited, and sent with the next check's command: the pipe writes commands
            # in order on one connection, so any later command of this process (a retry of
            # this request_id included) reaches Redis after this one; a retry through
            # another process that overtakes it sees the pending marker and waits for it.
            # Storing it stays best effort, as before.
            self._pipe.send_later(
                "SET", idem_key, replay_value(digest, body), "EX", IDEMPOTENCY_SECONDS
            ).add_done_callback(_warn_if_not_stored)
        metrics.CHECKS.labels(verdict.decision).inc()
        for reason in verdict.reasons:
            metrics.CHECK_REASONS.labels(reason.code).inc()
        metrics.CHECK_LATENCY.observe(time.perf_counter() - started)
        return body

    async def _answered(
        self, request: CheckRequest, who: Principal, idem_key: str, digest: str, call_id: str
    ) -> bytes:
        """After waiting for the earlier request with this request_id (its call id from
        its pending marker): its answer, when its decision was stored but the answer never
        reached Redis (its process ended in between), then also kept for the retries
        after this one; else it is still running, or failed."""
        try:
            pending = uuid.UUID(call_id)
        except ValueError:  # a marker without its call id
            raise Unavailable("an earlier request with this request_id is still running") from None
        try:
            row = await self._decisions.answered(pending, who.token_id, request.request_id)
        except (asyncpg.PostgresError, OSError, TimeoutError) as e:
            raise Unavailable("the decision log could not be read; try again") from e
        if row is None:
            raise Unavailable("an earlier request with this request_id is still running")
        try:
            stored = replay_from_decision(row)
        except (msgspec.ValidationError, msgspec.DecodeError) as e:  # not a check's row
            raise Unavailable("an earlier request with this request_id is unreadable") from e
        left_ms = ms_left(row["created_at"], self._clock())
        if left_ms > 0:
            try:
                # Only over that request's own marker: never over a newer answer.
                await self._replace_marker(
                    keys=[idem_key], args=[f"P|{digest}|{call_id}", stored, left_ms]
                )
            except (RedisError, OSError) as e:
                log.warning("could not store the idempotent answer: %s", e)
        return stored[len(digest) + 3 :]

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
            token_name=who.name,
            token_id=who.token_id,
            request_id=req.request_id,
            valid_until=answer.valid_until,
        )

    async def _undo(self, q: FactQuery, counted: bool, member: str, idem_key: str) -> None:
        try:
            if counted and q.e164:
                await self._redis.zrem(self._keys.attempts(q.e164), member)
            if idem_key:
                await self._redis.delete(idem_key)
        except (RedisError, OSError):
            log.warning("could not undo the attempt of an unrecorded check")


def _local_tz(ctx: CallContext) -> Any:
    return ctx.local_now.tzinfo
