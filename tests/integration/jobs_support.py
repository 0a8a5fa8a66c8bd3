"""Helpers for the nightly-job tests: calls written at a chosen time, recordings on disk."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from gateway.core.ids import uuid7
from tests.support.audio import wav
from tests.support.headers import bearer

AT = datetime.fromisoformat
# What a denied call made without naming its reasons is denied for: the table holds no
# denied call without a reason.
DEFAULT_DENIAL = [{"code": "dnc_listed", "rule": "dnc", "message": "on the do-not-call list"}]


async def make_call(
    db: Any,
    created_at: datetime,
    *,
    decision: str = "allow",
    purpose: str = "marketing",
    callee: str = "+8613800138000",
    caller_id: str = "+864008001234",
    agent_id: str = "A-job",
    campaign_id: str | None = "camp-job",
    reasons: list[dict[str, str]] | None = None,
) -> uuid.UUID:
    call_id = uuid7(int(created_at.timestamp() * 1000))
    await db.execute(
        """INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164,
                              caller_id, agent_id, campaign_id, purpose, list_id,
                              policy_version, token_name, valid_until)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 'r1', 'test', $11)""",
        call_id,
        created_at,
        decision,
        reasons or (DEFAULT_DENIAL if decision == "deny" else []),
        {"callee": callee},
        callee,
        caller_id,
        agent_id,
        campaign_id,
        purpose,
        created_at + timedelta(seconds=60),
    )
    return call_id


async def upload(client: Any, token: str, call_id: uuid.UUID, seconds: float = 0.25) -> bytes:
    audio = wav(seconds)
    resp = await client.put(
        f"/v1/calls/{call_id}/recording",
        data=audio,
        headers={**bearer(token), "Content-Type": "audio/wav"},
    )
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["sha256"] == hashlib.sha256(audio).hexdigest()
    return audio


def copies(settings: Any, call_id: uuid.UUID) -> list[Path]:
    return [
        p
        for root in (settings.recordings_dir, settings.backup_dir)
        for p in Path(root).rglob(f"{call_id}.*")
    ]
