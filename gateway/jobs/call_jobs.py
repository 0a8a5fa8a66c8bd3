"""Jobs that look back at calls: answered calls with no recording, and call detail
records from the network that the gateway did not allow."""

from __future__ import annotations

import uuid
from datetime import timedelta

from gateway.jobs.runner import Counts, JobContext, JobSpec
from gateway.policy import normalize_caller_id
from gateway.services.call_events import record_exception

RECORDING_DUE = timedelta(hours=24)
LOOK_BACK = timedelta(days=7)
VALIDITY_SLACK = timedelta(seconds=5)  # clocks of switch and gateway differ a little


async def run_missed_recordings(ctx: JobContext) -> Counts:
    """Allowed, answered calls whose last event is more than 24 h old and that have no
    stored recording become `recording_missing` exceptions (once per call)."""
    due_before = ctx.now - RECORDING_DUE
    rows = await ctx.pool.fetch(
        """SELECT c.call_id, max(e.at) AS last_event
           FROM call_events a
           JOIN calls c ON c.call_id = a.call_id AND c.decision = 'allow'
           JOIN call_events e ON e.call_id = a.call_id
           WHERE a.type = 'answered' AND a.at >= $2
             AND NOT EXISTS (SELECT 1 FROM recordings r
                             WHERE r.call_id = c.call_id AND r.state = 'stored')
           GROUP BY c.call_id
           HAVING max(e.at) < $1""",
        due_before,
        ctx.now - LOOK_BACK,
    )
    if ctx.dry_run:
        return {"would_flag": len(rows)}
    flagged = 0
    for row in rows:
        flagged += await record_exception(
            ctx.pool,
            "recording_missing",
            row["call_id"],
            {
                "last_event": row["last_event"].isoformat(),
                "due_by": (row["last_event"] + RECORDING_DUE).isoformat(),
            },
        )
    return {"checked": len(rows), "flagged": flagged}


async def run_reconciliation(ctx: JobContext) -> Counts:
    """Match each new CDR with an allowed decision; flag every call the network carried
    that the gateway did not allow."""
    counts = {"matched": 0, "flagged": 0}
    rows = await ctx.pool.fetch("SELECT * FROM cdrs WHERE matched IS NULL ORDER BY id LIMIT 50000")
    for cdr in rows:
        finding, call_id = await _judge_cdr(ctx, cdr)
        if ctx.dry_run:
            counts["matched" if finding is None else "flagged"] += 1
            continue
        async with ctx.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE cdrs SET matched = $2, finding = $3 WHERE id = $1",
                cdr["id"],
                finding is None,
                finding,
            )
            if finding is not None:
                await record_exception(
                    conn,
                    finding,
                    call_id,
                    {
                        "cdr_id": cdr["id"],
                        "caller": cdr["caller"],
                        "callee": cdr["callee_e164"] or cdr["callee_raw"],
                        "start": cdr["start_at"].isoformat(),
                    },
                )
        counts["matched" if finding is None else "flagged"] += 1
    return counts


async def _judge_cdr(ctx: JobContext, cdr: object) -> tuple[str | None, uuid.UUID | None]:
    row = dict(cdr)  # type: ignore[call-overload]
    start = row["start_at"]
    if row["call_id"] is not None:
        call = await ctx.pool.fetchrow(
            "SELECT call_id, decision, caller_id, callee_e164, created_at, valid_until "
            "FROM calls WHERE call_id = $1",
            row["call_id"],
        )
        if call is None:
            return "dialed_without_check", None
        return _finding(call, row), call["call_id"]
    if row["callee_e164"] is None:
        return "dialed_without_check", None
    calls = await ctx.pool.fetch(
        "SELECT call_id, decision, caller_id, callee_e164, created_at, valid_until FROM calls "
        "WHERE callee_e164 = $1 AND created_at <= $2 AND created_at > $2 - interval '1 day' "
        "ORDER BY created_at DESC",
        row["callee_e164"],
        start + VALIDITY_SLACK,
    )
    for call in calls:
        if _finding(call, row) is None:
            return None, call["call_id"]
    if not calls:
        return "dialed_without_check", None
    latest = calls[0]
    return _finding(latest, row), latest["call_id"]


def _finding(call: object, cdr: dict[str, object]) -> str | None:
    c = dict(call)  # type: ignore[call-overload]
    if c["decision"] != "allow":
        return "call_after_deny"
    if cdr["start_at"] > c["valid_until"] + VALIDITY_SLACK:
        return "dialed_after_expiry"
    if normalize_caller_id(str(cdr["caller"])) != normalize_caller_id(c["caller_id"]):
        return "caller_id_mismatch"
    return None


MISSED_RECORDINGS = JobSpec(
    name="missed-recordings",
    cron="15 * * * *",
    run=run_missed_recordings,
    summary="allowed, answered calls with no recording 24 h after they ended",
)
RECONCILIATION = JobSpec(
    name="reconciliation",
    cron="*/10 * * * *",
    run=run_reconciliation,
    summary="match switch CDRs to allowed decisions; flag calls the gateway did not allow",
)
