"""The pre-call check: gather the facts (registry snapshot in memory, one Redis script
call through gateway.store.check_script), let the pure policy engine judge, make the
decision durable, then answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
from redis.asyncio import Redis

from gateway.core import metrics
from gateway.core.errors import RequestIdConflict, Unavailable
from gateway.core.ids import uuid7_text
from gateway.policy import (
    CallContext,
    CheckRequest,
    Verdict,
    build_context,
    fact_query,
    judge,
    static_reasons,
    valid_until,
)
from gateway.services.auth import Principal
from gateway.services.dnc_since import ListedSinceLookup
from gateway.services.revision import RULES_REVISION
from gateway.store.answers import (
    PrecheckAnswer,
    body_hash,
    encode,
    ms_left,
    replay_from_decision,
)
from gateway.store.check_script import CheckScript
from gateway.store.decisions import DecisionLog, DecisionLogUnavailable, DecisionRecord
from gateway.store.dnc_changes import KnownChanges
from gateway.store.keys import Keys
from gateway.store.registry_cache import RegistryCache

# An earlier request with the same request_id whose pending marker is older than its
# time limit by this much has ended: answered (its decision is in PostgreSQL) or not.
_PENDING_MARGIN_MS = 1000


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
        listed: ListedSinceLookup | None = None,
    ) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))
        self._timeout = timeout_ms / 1000
        # Redis may take at most this share of a check's time; the rest is for storing the
        # decision (a check without its facts is still judged, degraded, and recorded).
        self._facts_timeout = self._timeout / 2
        self._pending_stale_ms = timeout_ms + _PENDING_MARGIN_MS
        self._keys = keys
        self._registries = registries
        self._decisions = decisions
        self._valid = timedelta(seconds=valid_seconds)
        self._store = CheckScript(redis, keys, known, timeout=self._facts_timeout, behind=behind)
        self._listed = listed  # since when and why, for a dnc_listed deny

    async def check(
        self,
        request: CheckRequest,
        who: Principal,
        *,
        policy_sellers: frozenset[str] = frozenset(),
        started: float | None = None,
    ) -> bytes:
        """The answer, within the check's time limit: its decision, a degraded deny, or
        Unavailable (503) when no decision could be recorded in time. `policy_sellers`:
        the sellers of the policy a callback names; `started` (time.monotonic()), when the
        request began, if work before this call (looking them up) counts against the limit."""
        started_perf = time.perf_counter()
        deadline = (time.monotonic() if started is None else started) + self._timeout
        idem_key = (
            self._keys.idempotency(who.token_id, request.request_id) if request.request_id else ""
        )
        encoded = encode(request)  # hashed for the retry check and stored with the decision
        digest = body_hash(encoded) if idem_key else ""
        takeover = ""
        while True:
            now = self._clock()
            ctx = build_context(
                request, now, self._registries.current, policy_sellers=policy_sellers
            )
            static = static_reasons(ctx)
            q = fact_query(ctx)
            call_id = uuid7_text(q.now_ms)
            status, facts, counted, stored = await self._store.facts(
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
        if verdict.decision == "deny" and self._listed is not None:
            left = deadline - time.monotonic()
            verdict = await self._listed.explain(verdict, q.e164, ctx.request.purpose, left)
        answer = self._answer(ctx, verdict, call_id, now)
        record = self._record(ctx, verdict, call_id, now, answer, who, encoded)
        try:
            await self._decisions.write(record, within=deadline - time.monotonic())
        except DecisionLogUnavailable as e:
            self._store.undo(q.e164, counted, call_id, idem_key, digest)
            raise Unavailable("the decision could not be recorded; do not dial") from e
        except TimeoutError as e:
            # It may still be stored: the attempt stays counted (the safe side of a cap);
            # the request_id is freed, since a 503 binds nothing.
            self._store.undo(q.e164, False, call_id, idem_key, digest)
            raise Unavailable("the decision could not be recorded in time; do not dial") from e
        body = encode(answer)
        if idem_key and status == "ok":
            self._store.keep_answer(idem_key, digest, body)  # not awaited
        metrics.CHECKS.labels(verdict.decision).inc()
        for reason in verdict.reasons:
            metrics.CHECK_REASONS.labels(reason.code).inc()
        metrics.CHECK_LATENCY.observe(time.perf_counter() - started_perf)
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
            await self._store.replace_marker(
                idem_key, digest, call_id, stored, left_ms, max(deadline - time.monotonic(), 0.001)
            )
        return stored[len(digest) + 3 :]

    async def ping(self) -> None:
        """A round trip on the checks' own connection to Redis."""
        await self._store.ping()

    async def close(self) -> None:
        """Stores the answers still queued for Redis, then closes the connection."""
        await self._store.close()

    async def simulate(
        self,
        request: CheckRequest,
        at: datetime,
        *,
        policy_sellers: frozenset[str] = frozenset(),
    ) -> PrecheckAnswer:
        ctx = build_context(request, at, self._registries.current, policy_sellers=policy_sellers)
        static = static_reasons(ctx)
        q = fact_query(ctx)
        _, facts, _, _ = await self._store.facts(
            q, others_pass=False, member="", idem_key="", digest="", mode="peek"
        )
        verdict = judge(ctx, static, facts, q)
        if verdict.decision == "deny" and self._listed is not None:
            verdict = await self._listed.explain(verdict, q.e164, ctx.request.purpose, 1.0)
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
            valid_until=valid_until(ctx, self._valid),
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


def _uuid7_ms(text: str) -> int | None:
    """The time a call id (a uuid7) was made, in ms since the epoch."""
    try:
        return uuid.UUID(text).int >> 80
    except ValueError:
        return None
