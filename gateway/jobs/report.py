"""The daily report: per Beijing day, campaign and agent — checks, allows, denies by
reason, answered calls, opt-outs, complaints, recordings missing, the return visits
(callback calls) that name no policy, for a supervisor to link, and the return-visit
success rate against the 90% target: visits done within the cooling-off period over
visits whose period ended that day, counted for the sale's campaign and seller."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core.aliases import Db
from gateway.jobs.runner import Counts, JobContext, JobSpec

BEIJING = ZoneInfo("Asia/Shanghai")
CALLBACK_TARGET = 0.9
NO_CAMPAIGN = "-"

_FIGURES = """
WITH day_calls AS (
    SELECT call_id, decision, reasons, purpose, request,
           coalesce(campaign_id, $3) AS campaign_id, agent_id
    FROM calls WHERE created_at >= $1 AND created_at < $2
), events AS (
    SELECT e.call_id, bool_or(e.type = 'answered') AS answered,
           bool_or(e.type = 'opt_out') AS opted_out, bool_or(e.type = 'complaint') AS complained
    FROM call_events e JOIN day_calls d USING (call_id) GROUP BY e.call_id
), reason_counts AS (
    SELECT campaign_id, agent_id, jsonb_object_agg(code, n) AS denies_by_reason
    FROM (SELECT d.campaign_id, d.agent_id, r->>'code' AS code, count(*) AS n
          FROM day_calls d, jsonb_array_elements(d.reasons) r
          GROUP BY 1, 2, 3) x
    GROUP BY campaign_id, agent_id
), call_rows AS (
    SELECT d.campaign_id, d.agent_id,
           count(*) AS checks,
           count(*) FILTER (WHERE d.decision = 'allow') AS allows,
           count(*) FILTER (WHERE d.decision = 'deny') AS denies,
           count(*) FILTER (WHERE e.answered) AS answered,
           count(*) FILTER (WHERE e.opted_out) AS opt_outs,
           count(*) FILTER (WHERE e.complained) AS complaints,
           count(*) FILTER (WHERE e.answered AND d.decision = 'allow' AND NOT EXISTS (
               SELECT 1 FROM recordings r WHERE r.call_id = d.call_id AND r.state = 'stored'))
               AS recordings_missing,
           count(*) FILTER (WHERE d.purpose = 'callback' AND d.decision = 'allow')
               AS callbacks_attempted,
           count(*) FILTER (WHERE d.purpose = 'callback' AND d.decision = 'allow' AND e.answered)
               AS callbacks_reached,
           coalesce(array_agg(d.call_id::text ORDER BY d.call_id) FILTER (
               WHERE d.purpose = 'callback' AND d.decision = 'allow'
                 AND call_visited_policy(d.call_id, d.purpose, d.request) IS NULL),
               '{}') AS callbacks_unlinked,
           coalesce(max(rc.denies_by_reason::text), '{}')::jsonb AS denies_by_reason
    FROM day_calls d
    LEFT JOIN events e USING (call_id)
    LEFT JOIN reason_counts rc ON rc.campaign_id = d.campaign_id AND rc.agent_id = d.agent_id
    GROUP BY d.campaign_id, d.agent_id
), visit_rows AS (
    -- Return visits whose cooling-off period ended this day, by the sale's campaign and
    -- seller.
    SELECT coalesce(v.campaign_id, $3) AS campaign_id, v.seller_agent_id AS agent_id,
           count(*) AS visits_ended,
           count(*) FILTER (WHERE v.done_at <= v.due_by) AS visits_done_in_time
    FROM return_visits v WHERE v.due_by >= $1 AND v.due_by < $2
    GROUP BY 1, 2
)
SELECT coalesce(c.campaign_id, v.campaign_id) AS campaign_id,
       coalesce(c.agent_id, v.agent_id) AS agent_id,
       coalesce(c.checks, 0) AS checks, coalesce(c.allows, 0) AS allows,
       coalesce(c.denies, 0) AS denies, coalesce(c.answered, 0) AS answered,
       coalesce(c.opt_outs, 0) AS opt_outs, coalesce(c.complaints, 0) AS complaints,
       coalesce(c.recordings_missing, 0) AS recordings_missing,
       coalesce(c.callbacks_attempted, 0) AS callbacks_attempted,
       coalesce(c.callbacks_reached, 0) AS callbacks_reached,
       coalesce(c.callbacks_unlinked, '{}') AS callbacks_unlinked,
       coalesce(v.visits_ended, 0) AS visits_ended,
       coalesce(v.visits_done_in_time, 0) AS visits_done_in_time,
       coalesce(c.denies_by_reason, '{}') AS denies_by_reason
FROM call_rows c
FULL JOIN visit_rows v ON v.campaign_id = c.campaign_id AND v.agent_id = c.agent_id
ORDER BY 1, 2
"""


def day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=BEIJING)
    return start, start + timedelta(days=1)


def with_rate(figures: dict[str, Any]) -> dict[str, Any]:
    """The return-visit success rate: visits done in time over visits whose cooling-off
    period ended that day (None when none ended)."""
    ended = figures["visits_ended"]
    rate = figures["visits_done_in_time"] / ended if ended else None
    figures["callback_success_rate"] = None if rate is None else round(rate, 4)
    figures["callback_target_met"] = None if rate is None else rate >= CALLBACK_TARGET
    return figures


async def figures_for(db: Db, day: date) -> list[dict[str, Any]]:
    start, end = day_bounds(day)
    rows = await db.fetch(_FIGURES, start, end, NO_CAMPAIGN)
    return [
        with_rate({**dict(r), "callbacks_unlinked": list(r["callbacks_unlinked"])}) for r in rows
    ]


async def run_daily_report(ctx: JobContext) -> Counts:
    """Reports the Beijing day before the run (the job runs after midnight)."""
    day = (ctx.now.astimezone(BEIJING) - timedelta(days=1)).date()
    rows = await figures_for(ctx.pool, day)
    if ctx.dry_run:
        return {"day": day.isoformat(), "rows": len(rows)}
    async with ctx.pool.acquire() as conn, conn.transaction():
        await conn.execute("DELETE FROM daily_reports WHERE day = $1", day)
        await conn.executemany(
            "INSERT INTO daily_reports (day, campaign_id, agent_id, figures) "
            "VALUES ($1, $2, $3, $4)",
            [
                (
                    day,
                    r["campaign_id"],
                    r["agent_id"],
                    {k: v for k, v in r.items() if k not in ("campaign_id", "agent_id")},
                )
                for r in rows
            ],
        )
    return {"day": day.isoformat(), "rows": len(rows)}


DAILY_REPORT = JobSpec(
    name="daily-report",
    cron="10 0 * * *",
    run=run_daily_report,
    summary="yesterday's figures per campaign and agent, kept for /v1/reports/daily",
)
