"""Builds a small tenant through the supervisor API, with ids unique to each test so tests
sharing a database never see each other's data."""

from __future__ import annotations

import asyncio
import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from tests.support.headers import bearer

CALLER_ID = "4008001234"
CALLER_E164 = "+864008001234"
# When the tests' caller ids were published: an active caller id needs the date.
PUBLISHED_AT = "2025-06-01T00:00:00+08:00"


def mobile() -> str:
    """A random valid mainland mobile number, written the way people type it."""
    return f"13{random.randint(5, 9)}{random.randint(0, 99_999_999):08d}"


def e164(number: str) -> str:
    return "+86" + number


@dataclass
class Tenant:
    client: Any
    tokens: dict[str, str]
    suffix: str = field(default_factory=lambda: secrets.token_hex(3))
    listed: list[str] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)

    @property
    def campaign(self) -> str:
        return f"camp-{self.suffix}"

    @property
    def script(self) -> str:
        return f"script-{self.suffix}"

    @property
    def agent(self) -> str:
        return f"A-{self.suffix}"

    @property
    def callback_agent(self) -> str:
        return f"B-{self.suffix}"

    @property
    def list_id(self) -> str:
        return f"list-{self.suffix}"

    async def call(self, method: str, path: str, role: str = "supervisor", **kw: Any) -> Any:
        headers = {**bearer(self.tokens[role]), **kw.pop("headers", {})}
        resp = await self.client.request(method, path, headers=headers, **kw)
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body

    async def ok(self, method: str, path: str, role: str = "supervisor", **kw: Any) -> Any:
        status, body = await self.call(method, path, role, **kw)
        assert status in (200, 201), (method, path, status, body)
        return body

    async def build(self, list_size: int = 6) -> Tenant:
        status, body = await self.call(
            "POST",
            "/v1/caller-ids",
            json={
                "number": CALLER_ID,
                "purposes": ["marketing", "appointment", "callback", "service"],
                "published_at": PUBLISHED_AT,
            },
        )
        assert status in (201, 409), body
        await self.ok(
            "POST",
            "/v1/scripts",
            json={
                "script_id": self.script,
                "version": 1,
                "title": "intro",
                "text": "您好……",
                "status": "filed",
                "filing_ref": "REF-1",
                "discloses_identity": True,
            },
        )
        far = "2035-12-31"
        await self.ok(
            "POST",
            "/v1/agents",
            json={
                "agent_id": self.agent,
                "name": "王芳",
                "licence_no": "L1",
                "licence_valid_until": far,
                "training_valid_until": far,
                "purposes": ["marketing", "appointment"],
            },
        )
        await self.ok(
            "POST",
            "/v1/agents",
            json={
                "agent_id": self.callback_agent,
                "name": "李强",
                "licence_no": "L2",
                "licence_valid_until": far,
                "training_valid_until": far,
                "purposes": ["callback", "service"],
            },
        )
        self.listed = [mobile() for _ in range(list_size)]
        await self.ok(
            "PUT",
            f"/v1/lists/{self.list_id}",
            json={"provenance": "test leads", "numbers": self.listed},
        )
        self.customers = [mobile() for _ in range(2)]
        await self.ok("PUT", f"/v1/agents/{self.agent}/customers", json={"numbers": self.customers})
        for purpose in ("marketing", "appointment"):
            await self.ok(
                "POST",
                "/v1/campaigns",
                json={
                    "campaign_id": self.campaign
                    if purpose == "marketing"
                    else f"appt-{self.suffix}",
                    "purpose": purpose,
                    "script_ids": [self.script],
                    "caller_ids": [CALLER_ID],
                    "list_ids": [self.list_id] if purpose == "marketing" else [],
                    "starts_at": "2026-01-01T00:00:00+08:00",
                    "ends_at": "2036-01-01T00:00:00+08:00",
                },
            )
        return self

    def marketing(self, callee: str | None = None, **changes: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "callee": callee or self.listed[0],
            "caller_id": CALLER_ID,
            "agent_id": self.agent,
            "campaign_id": self.campaign,
            "script_id": self.script,
            "script_version": 1,
            "purpose": "marketing",
            "list_id": self.list_id,
        }
        body.update(changes)
        return {k: v for k, v in body.items() if v is not None}

    def appointment(self, callee: str, **changes: Any) -> dict[str, Any]:
        return self.marketing(
            callee,
            purpose="appointment",
            campaign_id=f"appt-{self.suffix}",
            list_id=None,
            **changes,
        )

    def callback(self, callee: str, **changes: Any) -> dict[str, Any]:
        body = {
            "callee": callee,
            "caller_id": CALLER_ID,
            "agent_id": self.callback_agent,
            "purpose": "callback",
        }
        body.update(changes)
        return body

    async def precheck(self, body: dict[str, Any]) -> dict[str, Any]:
        status, answer = await self.call("POST", "/v1/precheck", "dialer", json=body)
        assert status == 200, answer
        return dict(answer)


def codes(answer: dict[str, Any]) -> set[str]:
    return {r["code"] for r in answer["reasons"]}


OPEN_POLICY: dict[str, Any] = {
    "hours": {
        "workday": [{"start": "09:00", "end": "20:00"}],
        "restday": [{"start": "10:00", "end": "18:00"}],
        "holiday": [],
    },
    "province_hours": {},
    "frequency": {"per_day": 2, "per_7_days": 5, "min_gap_minutes": 0},
    "retention": {"no_sale_days": 1095},
    "frequency_purposes": ["marketing", "appointment", "callback", "service"],
    "telesales_product_types": ["ordinary"],
    "cooling_off_days": 15,
}


async def until(predicate: Any, seconds: float = 10.0) -> Any:
    result = None
    for _ in range(int(seconds / 0.1)):
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.1)
    return result
