"""The pre-call check: gather the facts (registry snapshot in memory, one Redis script
call), let the pure policy engine judge, make the decision durable, then answer."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.auth import Principal
from gateway.errors import ApiError, Unavailable
from gateway.ids import uuid7
from gateway.policy import (
    CallContext,
    CheckRequest,
    FactQuery,
    Facts,
    Reason,
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

log = logging.getLogger("gateway.precheck")

IDEMPOTENCY_SECONDS = 24 * 3600
_PENDING_WAIT_SECONDS = 5.0


class PrecheckAnswer(msgspec.Struct, kw_only=True):
    decision: str
    call_id: str | None
    callee_e164: str | None
    reasons: tuple[Reason, ...]
    recording_required: bool
    valid_until: datetime
    policy_version: str


class RequestIdConflict(ApiError):
    status = 409
    code = "request_id_conflict"


_encode = msgspec.json.Encoder().encode


def body_hash(request: CheckRequest) -> str:
    return hashlib.sha256(_encode(request)).hexdigest()[:32]


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
        self._script = redis.register_script(lua("precheck.lua"))

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
            raw = await self._script(
                keys=[
                    self._keys.dnc_current,
                    self._keys.attempts(q.e164) if q.e164 else "",
                    idem_key,
                ],
                args=[
                    str(digits(q.e164)) if q.e164 else "",
                    "am" if "marketing" in q.dnc_blocking_scopes else "a",
                    "1" if q.counts_attempts else "0",
                    "1" if others_pass else "0",
                    q.now_ms,
                    q.day_start_ms,
                    q.week_start_ms,
                    -1 if q.per_day is None else q.per_day,
                    -1 if q.per_7_days is None else q.per_7_days,
                    q.min_gap_ms,
                    member,
                    digest,
                    mode,
                    f"{self._keys.prefix}dnc:",
                ],
            )
        except (RedisError, OSError, TimeoutError) as e:
            log.warning("redis unavailable for a check: %s", e)
            return "degraded", Facts(degraded="Redis is unreachable"), False, b""
        status = raw[0].decode()
        if status == "degraded":
            return status, Facts(degraded="the do-not-call cache is incomplete"), False, b""
        scope = raw[1].decode() or None
        facts = Facts(
            dnc_scope=scope,
            attempts_today=int(raw[2]),
            attempts_7_days=int(raw[3]),
            last_attempt_ms=None if int(raw[4]) < 0 else int(raw[4]),
        )
        return status, facts, bool(int(raw[5])), bytes(raw[6])

    async def check(self, request: CheckRequest, who: Principal) -> bytes:
        started = time.perf_counter()
        idem_key = (
            self._keys.idempotency(who.token_id, request.request_id) if request.request_id else ""
        )
        digest = body_hash(request) if idem_key else ""
        deadline = time.monotonic() + _PENDING_WAIT_SECONDS
        while True:
            now = self._clock()
            ctx = build_context(request, now, self._registries.current)
            static = static_reasons(ctx)
            q = fact_query(ctx)
            call_id = uuid7(q.now_ms)
            status, facts, counted, stored = await self._facts(
                q,
                others_pass=not static,
                member=str(call_id),
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
                raise Unavailable("an earlier request with this request_id is still running")
            await asyncio.sleep(0.01)
        verdict = judge(ctx, static, facts)
        answer = self._answer(ctx, verdict, str(call_id), now)
        record = self._record(ctx, verdict, call_id, now, answer, who)
        try:
            await self._decisions.write(record)
        except DecisionLogUnavailable as e:
            await self._undo(q, counted, str(call_id), idem_key)
            raise Unavailable("the decision could not be recorded; do not dial") from e
        body = _encode(answer)
        if idem_key and status == "ok":
            try:
                await self._redis.set(
                    idem_key, b"D|" + digest.encode() + b"|" + body, ex=IDEMPOTENCY_SECONDS
                )
            except (RedisError, OSError):
                log.warning("could not store the idempotent answer")
        metrics.CHECKS.labels(verdict.decision).inc()
        for reason in verdict.reasons:
            metrics.CHECK_REASONS.labels(reason.code).inc()
        metrics.CHECK_LATENCY.observe(time.perf_counter() - started)
        return body

    async def simulate(self, request: CheckRequest, at: datetime) -> PrecheckAnswer:
        ctx = build_context(request, at, self._registries.current)
        static = static_reasons(ctx)
        q = fact_query(ctx)
        _, facts, _, _ = await self._facts(
            q, others_pass=False, member="", idem_key="", digest="", mode="peek"
        )
        verdict = judge(ctx, static, facts)
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
        call_id: Any,
        now: datetime,
        answer: PrecheckAnswer,
        who: Principal,
    ) -> DecisionRecord:
        req = ctx.request
        return DecisionRecord(
            call_id=call_id,
            created_at=now,
            decision=verdict.decision,
            reasons=_encode(verdict.reasons).decode(),
            request=_encode(req).decode(),
            callee_e164=answer.callee_e164,
            caller_id=req.caller_id,
            agent_id=req.agent_id,
            campaign_id=req.campaign_id,
            purpose=req.purpose,
            list_id=req.list_id,
            policy_version=answer.policy_version,
            token_name=who.name,
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
