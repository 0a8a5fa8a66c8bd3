"""Return visits (回访): one per policy of more than a year sold on a sales call, due by
the end of the cooling-off period from signing ([基本服务] 十五). A `visit_completed` event
on the answered callback call that visited the policy marks it done; done by the due
moment is done in time, which is what the daily report's success rate counts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from gateway.core.aliases import Conn
from gateway.core.errors import InvalidState
from gateway.policy.retention import done_in_time, visit_status
from gateway.store.rows import Where, newest_page


class VisitNotCompletable(InvalidState):
    """A `visit_completed` event on a call that cannot have completed a return visit."""


def visit_item(row: asyncpg.Record, now: datetime) -> dict[str, Any]:
    out = dict(row)
    out["sales_call_id"] = str(row["sales_call_id"])
    out["done_call_id"] = str(row["done_call_id"]) if row["done_call_id"] else None
    out["status"] = visit_status(row["due_by"], row["done_at"], now)
    out["done_in_time"] = done_in_time(row["due_by"], row["done_at"])
    return out


async def complete_visit(conn: Conn, call_id: uuid.UUID, at: datetime) -> None:
    """Mark done the return visit of the policy an answered callback call visited; raises
    VisitNotCompletable when the call is not such a call."""
    call = await conn.fetchrow(
        "SELECT c.purpose, c.agent_id, "
        "call_visited_policy(c.call_id, c.purpose, c.request) AS policy_no, "
        "EXISTS (SELECT 1 FROM call_events e WHERE e.call_id = c.call_id "
        "AND e.type = 'answered') AS answered FROM calls c WHERE c.call_id = $1",
        call_id,
    )
    if call is None or call["purpose"] != "callback":
        raise VisitNotCompletable(
            f"visit_completed: call {call_id} is not a return visit (purpose callback)"
        )
    if call["policy_no"] is None:
        raise VisitNotCompletable(
            f"visit_completed: call {call_id} names no policy; the check names it in "
            f"policy_no, or a supervisor with PUT /v1/calls/{call_id}/visited-policy"
        )
    if not call["answered"]:
        raise VisitNotCompletable(
            f"visit_completed: call {call_id} was not answered; report answered first"
        )
    sold = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM call_policies cp JOIN calls c USING (call_id) "
        "WHERE cp.policy_no = $1 AND c.agent_id = $2)",
        call["policy_no"],
        call["agent_id"],
    )
    if sold:
        raise VisitNotCompletable(
            f"visit_completed: agent {call['agent_id']} sold policy {call['policy_no']} and "
            "may not make its return visit; the visit stays due"
        )
    await conn.execute(
        "UPDATE return_visits SET done_at = $2, done_call_id = $3 "
        "WHERE policy_no = $1 AND done_at IS NULL",
        call["policy_no"],
        at,
        call_id,
    )


class ReturnVisits:
    def __init__(self, pool: asyncpg.Pool[Any], clock: Callable[[], datetime]) -> None:
        self._pool = pool
        self._clock = clock

    async def page(
        self, status: str | None, cursor: int | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of return visits, newest first: `due` (not done, the period still
        running), `overdue` (not done, the period over) or `done`."""
        now = self._clock()
        where = Where()
        if status == "done":
            where.conditions.append("done_at IS NOT NULL")
        elif status == "due":
            where.add("done_at IS NULL AND due_by >= {}", now)
        elif status == "overdue":
            where.add("done_at IS NULL AND due_by < {}", now)
        page, next_cursor = await newest_page(
            self._pool, "return_visits", "id", where, cursor, limit
        )
        return [visit_item(r, now) for r in page], next_cursor
