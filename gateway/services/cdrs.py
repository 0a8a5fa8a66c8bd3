"""Call detail records from the switch or PBX, and the daily report per campaign and
agent."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable
from datetime import date, datetime
from typing import Any

import asyncpg

from gateway.core.errors import NotFound
from gateway.jobs.report import BEIJING, figures_for

CDR_COLUMNS = [
    "caller",
    "callee_e164",
    "callee_raw",
    "start_at",
    "end_at",
    "call_id",
    "received_by",
]
BATCH = 10_000  # records written per COPY while the records are still arriving


class Cdrs:
    def __init__(self, pool: asyncpg.Pool[Any], clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    async def ingest(self, actor: str, records: AsyncIterable[tuple[Any, ...]]) -> int:
        """Store call detail records (caller, callee_e164, callee_raw, start_at, end_at,
        call_id) as they arrive, in batches; the number stored."""
        batch: list[tuple[Any, ...]] = []
        accepted = 0

        async def flush() -> None:
            nonlocal accepted
            if batch:
                async with self._pool.acquire() as conn:
                    await conn.copy_records_to_table("cdrs", records=batch, columns=CDR_COLUMNS)
                accepted += len(batch)
                batch.clear()

        async for record in records:
            batch.append((*record, actor))
            if len(batch) >= BATCH:
                await flush()
        await flush()
        return accepted

    async def daily_report(self, day: date) -> tuple[list[dict[str, Any]], bool]:
        """A day's figures per campaign and agent, and whether they are provisional (the
        nightly job has not reported the day: computed now). NotFound for a day to come."""
        stored = await self._pool.fetch(
            "SELECT campaign_id, agent_id, figures FROM daily_reports WHERE day = $1 "
            "ORDER BY campaign_id, agent_id",
            day,
        )
        if stored:
            rows = [
                {"campaign_id": r["campaign_id"], "agent_id": r["agent_id"], **r["figures"]}
                for r in stored
            ]
            return rows, False
        today = self._clock().astimezone(BEIJING).date()
        if day > today:
            raise NotFound(f"no report for {day.isoformat()}: that day has not come")
        return await figures_for(self._pool, day), True
