"""Call events: what the dialer reports after a check. An event for a call the gateway
denied, a dial after the allow expired, or a dial on an allow whose callee was listed
since the check, is a violation recorded for review; a customer's opt-out lists the
number at once, whatever the call's verdict; a complaint opens a dispute on the call;
`visit_completed` on an answered return visit marks its policy's visit done. A recording
more than `RECORDING_SHORTFALL_S` shorter than the talk time (answered to ended) opens
`recording_incomplete`, whichever of the recording and the events came last."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
import msgspec

from gateway.core.aliases import Db
from gateway.core.errors import NotFound
from gateway.policy import DNC_BLOCKING_SCOPES
from gateway.services.disputes import open_dispute
from gateway.services.dnc_list import DncList
from gateway.services.return_visits import complete_visit

# How much shorter than the talk time a recording may be (ringing, clocks) before it is
# taken to have lost part of the call.
RECORDING_SHORTFALL_S = 5

EventType = Literal["dialed", "answered", "ended", "opt_out", "complaint", "visit_completed"]


class CallEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    type: EventType
    at: datetime | None = None
    duration_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] | None = None
    disposition: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    scope: Literal["all", "marketing"] | None = None


@dataclass(frozen=True)
class Recorded:
    event_id: int
    duplicate: bool
    violation: str | None
    call_decision: str
    listed: bool


class UnknownCall(NotFound):
    """No call has this id."""


def fingerprint(event: CallEvent, at: datetime) -> str:
    text = "|".join(
        str(v)
        for v in (event.type, at.isoformat(), event.duration_s, event.disposition, event.scope)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


async def record_exception(
    conn: Db, kind: str, call_id: uuid.UUID | None, detail: dict[str, Any]
) -> bool:
    """Open a compliance exception; a call gets at most one of each kind. Returns whether
    a new one was opened."""
    status = await conn.execute(
        "INSERT INTO compliance_exceptions (kind, call_id, detail) VALUES ($1, $2, $3) "
        "ON CONFLICT (kind, call_id) WHERE call_id IS NOT NULL DO NOTHING",
        kind,
        call_id,
        detail,
    )
    return str(status).endswith(" 1")


async def check_recording_length(conn: Db, call_id: uuid.UUID, reported_by: str) -> bool:
    """Open `recording_incomplete` when the call's stored recording is more than
    `RECORDING_SHORTFALL_S` shorter than its talk time, from its first `answered` event to
    its last `ended` one. Nothing to judge until the recording (with its length) and both
    events are in. Returns whether an exception was opened."""
    row = await conn.fetchrow(
        "SELECT r.duration_s, e.answered_at, e.ended_at, "
        "extract(epoch FROM e.ended_at - e.answered_at)::float8 AS talk_s "
        "FROM recordings r CROSS JOIN LATERAL ("
        "  SELECT min(at) FILTER (WHERE type = 'answered') AS answered_at, "
        "         max(at) FILTER (WHERE type = 'ended') AS ended_at "
        "  FROM call_events WHERE call_id = r.call_id) e "
        "WHERE r.call_id = $1 AND r.state = 'stored' AND r.duration_s IS NOT NULL",
        call_id,
    )
    if row is None or row["talk_s"] is None:
        return False
    if row["talk_s"] - row["duration_s"] <= RECORDING_SHORTFALL_S:
        return False
    return await record_exception(
        conn,
        "recording_incomplete",
        call_id,
        {
            "recording_s": row["duration_s"],
            "talk_s": row["talk_s"],
            "answered_at": row["answered_at"].isoformat(),
            "ended_at": row["ended_at"].isoformat(),
            "reported_by": reported_by,
        },
    )


async def _listed_since_check(conn: Db, call: asyncpg.Record) -> asyncpg.Record | None:
    """The first do-not-call entry made after an allowed check that covers its purpose:
    dialing on that allow called a number listed in the meantime. An entry made after the
    dial but before the event was reported counts too: the supervisor sees both times. The
    call's own opt-out (reported before its `dialed` event) does not."""
    if call["callee_e164"] is None:
        return None
    return await conn.fetchrow(
        "SELECT created_at, scope, source FROM dnc_entries WHERE number = $1 "
        "AND created_at > $2 AND scope = ANY($3::text[]) "
        "AND (expires_at IS NULL OR expires_at > $2) "
        "AND evidence_call_id IS DISTINCT FROM $4 ORDER BY id LIMIT 1",
        call["callee_e164"],
        call["created_at"],
        list(DNC_BLOCKING_SCOPES[call["purpose"]]),
        call["call_id"],
    )


class CallEvents:
    def __init__(self, pool: asyncpg.Pool, dnc: DncList) -> None:
        self._pool = pool
        self._dnc = dnc

    async def record(
        self, call_id: uuid.UUID, event: CallEvent, at: datetime, token_name: str
    ) -> Recorded:
        async with self._pool.acquire() as conn, conn.transaction():
            call = await conn.fetchrow(
                "SELECT call_id, decision, callee_e164, valid_until, created_at, purpose "
                "FROM calls WHERE call_id = $1",
                call_id,
            )
            if call is None:
                raise UnknownCall(f"no call {call_id}; events need the call_id of a precheck")
            if event.type == "visit_completed" and call["decision"] != "deny":
                await complete_visit(conn, call_id, at)
            event_id = await conn.fetchval(
                "INSERT INTO call_events (call_id, type, at, duration_s, disposition, scope, "
                "fingerprint, token_name) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
                "ON CONFLICT (call_id, fingerprint) DO NOTHING RETURNING id",
                call_id,
                event.type,
                at,
                event.duration_s,
                event.disposition,
                event.scope,
                fingerprint(event, at),
                token_name,
            )
            duplicate = event_id is None
            if duplicate:
                event_id = await conn.fetchval(
                    "SELECT id FROM call_events WHERE call_id = $1 AND fingerprint = $2",
                    call_id,
                    fingerprint(event, at),
                )
            if event.type == "complaint" and not duplicate:
                await open_dispute(
                    conn, call_id, "complaint", f"call event {event_id}", token_name, at, event_id
                )
            if event.type in ("answered", "ended") and not duplicate:
                await check_recording_length(conn, call_id, token_name)
            violation = None
            if call["decision"] == "deny":
                violation = "call_after_deny"
            elif event.type == "dialed" and at > call["valid_until"]:
                violation = "dialed_after_expiry"
            if violation is not None and not duplicate:
                await record_exception(
                    conn,
                    violation,
                    call_id,
                    {
                        "event": event.type,
                        "at": at.isoformat(),
                        "valid_until": call["valid_until"].isoformat(),
                        "decision": call["decision"],
                        "reported_by": token_name,
                    },
                )
            if event.type == "dialed" and call["decision"] == "allow" and not duplicate:
                listing = await _listed_since_check(conn, call)
                if listing is not None:
                    await record_exception(
                        conn,
                        "dialed_after_listing",
                        call_id,
                        {
                            "event": event.type,
                            "at": at.isoformat(),
                            "checked_at": call["created_at"].isoformat(),
                            "listed_at": listing["created_at"].isoformat(),
                            "scope": listing["scope"],
                            "source": listing["source"],
                            "reported_by": token_name,
                        },
                    )
                    violation = violation or "dialed_after_listing"
        listed = False
        if event.type == "opt_out" and call["callee_e164"] is not None:
            await self._dnc.add(
                call["callee_e164"],
                scope=event.scope or "marketing",
                source="customer_refusal",
                actor=token_name,
                reason="the customer refused further calls during the call",
                evidence_call_id=call_id,
            )
            listed = True
        return Recorded(event_id, duplicate, violation, call["decision"], listed)
