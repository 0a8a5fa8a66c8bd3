"""The decision log's batches: small ones as VALUES rows, large ones as column arrays;
both store every field of every record exactly."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gateway.core.ids import uuid7, uuid7_text
from gateway.store import decisions
from gateway.store.decisions import DecisionLog, DecisionRecord
from gateway.store.postgres import create_pool

pytestmark = pytest.mark.asyncio


def batches() -> tuple[float, float]:
    """(batches written, decisions in them) so far, from the batch-size histogram."""
    samples = {s.name: s.value for s in decisions.metrics.DECISION_BATCH.collect()[0].samples}
    return samples["gateway_decision_batch_size_count"], samples["gateway_decision_batch_size_sum"]


def record(i: int, at: datetime) -> DecisionRecord:
    marketing = i % 2 == 0
    return DecisionRecord(
        call_id=uuid7() if i % 3 else uuid7_text(),  # the check sends text
        created_at=at + timedelta(microseconds=i),
        decision="allow" if marketing else "deny",
        reasons="[]" if marketing else '[{"code":"dnc_listed","message":"listed \\u2014 x"}]',
        request=json.dumps({"callee": f"+86139{i:08d}", "n": i}),
        callee_e164=f"+86139{i:08d}" if marketing else None,
        caller_id="4008001234",
        agent_id=f"A{i}",
        campaign_id="term-life-q4" if marketing else None,
        purpose="marketing" if marketing else "service",
        list_id="leads" if marketing else None,
        policy_version="r7",
        rules_revision=f"0.1.0+{i:012x}",
        token_name="test-dialer",
        token_id="tok-test" if marketing else None,
        request_id=f"batch-{i}" if marketing else None,
        valid_until=at + timedelta(seconds=60),
    )


@pytest.mark.parametrize("size", [1, 2, decisions.VALUES_UP_TO, decisions.VALUES_UP_TO + 1, 60])
async def test_a_batch_of_any_size_stores_every_field(
    database_url: str, db: Any, size: int
) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    log = DecisionLog(pool, max_batch=size)
    at = datetime.now(UTC).replace(microsecond=0)
    records = [record(i, at) for i in range(size)]
    count_before, sum_before = batches()
    try:
        # Queued before the writer starts, so they go as one batch of `size`.
        writes = [asyncio.ensure_future(log.write(r)) for r in records]
        await asyncio.sleep(0)
        log.start()
        await asyncio.gather(*writes)
    finally:
        await log.close()
        await pool.close()
    count_after, sum_after = batches()
    assert (count_after - count_before, sum_after - sum_before) == (1, size)
    rows = await db.fetch(
        "SELECT * FROM calls WHERE call_id = ANY($1::uuid[])", [str(r.call_id) for r in records]
    )
    stored = {str(row["call_id"]): row for row in rows}
    assert len(stored) == size
    for r in records:
        row = stored[str(r.call_id)]
        for field in DecisionRecord.__dataclass_fields__:
            value = getattr(r, field)
            if field in ("reasons", "request"):
                assert row[field] == json.loads(value), field
            elif field == "call_id":
                assert str(row[field]) == str(value)
            else:
                assert row[field] == value, field
