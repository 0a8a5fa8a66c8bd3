"""A supervisor's or auditor's simulated check: a call judged at a given moment without
counting or recording it, the simulation itself audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from gateway.policy import CheckRequest
from gateway.services.precheck import PreCallChecker
from gateway.store import audit
from gateway.store.answers import PrecheckAnswer


class Simulations:
    def __init__(self, pool: asyncpg.Pool[Any], checker: PreCallChecker) -> None:
        self._pool = pool
        self._checker = checker

    async def simulate(
        self,
        actor: str,
        request: CheckRequest,
        at: datetime,
        *,
        policy_sellers: frozenset[str] = frozenset(),
    ) -> PrecheckAnswer:
        answer = await self._checker.simulate(request, at, policy_sellers=policy_sellers)
        async with self._pool.acquire() as conn:
            await audit.record(
                conn,
                actor=actor,
                action="simulate",
                entity="precheck",
                after={
                    "request": request,
                    "decision": answer.decision,
                    "reasons": [r.code for r in answer.reasons],
                },
            )
        return answer
