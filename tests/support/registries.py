"""Helpers of the registry tests: request bodies, fresh ids and numbers, error answers,
audit entries, and waiting for a change to be seen."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from tests.integration.tenant import OPEN_POLICY, PUBLISHED_AT, Tenant
from tests.support.headers import bearer

FAR = "2030-12-31"
NUL = "a\u0000b"


def uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def caller_number() -> str:
    """A random 400 number, which is valid as a caller id."""
    return f"400{random.randint(0, 9_999_999):07d}"


def caller_body(number: str, purposes: list[str], **changes: Any) -> dict[str, Any]:
    """A caller id to register: active, and published (an active one needs the date)."""
    body: dict[str, Any] = {"number": number, "purposes": purposes, "published_at": PUBLISHED_AT}
    body.update(changes)
    return body


def script_body(script_id: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "script_id": script_id,
        "version": version,
        "title": "intro",
        "text": "您好，我是某某保险的……",
    }
    body.update(changes)
    return body


def agent_body(agent_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent_id": agent_id,
        "name": "张伟",
        "licence_no": "L-2026-001",
        "licence_valid_until": FAR,
        "training_valid_until": FAR,
        "purposes": ["marketing"],
    }
    body.update(changes)
    return body


def campaign_body(campaign_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "purpose": "marketing",
        "starts_at": "2026-01-01T00:00:00+08:00",
        "ends_at": "2027-01-01T00:00:00+08:00",
    }
    body.update(changes)
    return body


def refused(answer: tuple[int, Any], status: int, code: str, field: str | None = None) -> str:
    """Assert an error answer in the contract's envelope; returns its message."""
    got, body = answer
    assert got == status, body
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    if field is not None:
        assert field in message, message
    return message


async def send(
    t: Tenant,
    method: str,
    path: str,
    data: bytes,
    content_type: str = "application/json",
    role: str = "supervisor",
) -> tuple[int, Any]:
    resp = await t.client.request(
        method,
        path,
        data=data,
        headers={**bearer(t.tokens[role]), "Content-Type": content_type},
    )
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body


async def audit_entries(db: Any, entity: str, entity_id: str) -> list[Any]:
    return list(
        await db.fetch(
            "SELECT * FROM audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY seq",
            entity,
            entity_id,
        )
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Poll until `check` holds; fail when it does not within `within` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        if await check():
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"not seen within {within} s")
        await asyncio.sleep(0.02)


def policy_with(**changes: Any) -> dict[str, Any]:
    return {**OPEN_POLICY, **changes}


def hours(workday: list[tuple[str, str]], restday: list[tuple[str, str]] | None = None) -> Any:
    return {
        "workday": [{"start": s, "end": e} for s, e in workday],
        "restday": [{"start": s, "end": e} for s, e in restday or []],
        "holiday": [],
    }


def without_field(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}
