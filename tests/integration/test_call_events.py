"""Call events: order and repeats, violations, and a customer's opt-out."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, codes, e164
from tests.support.clock import Clock
from tests.support.headers import bearer


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=6)


async def event(tenant: Tenant, call_id: str, **body: Any) -> tuple[int, Any]:
    status, answer = await tenant.call("POST", f"/v1/calls/{call_id}/events", "dialer", json=body)
    return status, answer


async def test_events_in_any_order_and_repeats_kept_once(tenant: Tenant, db: Any) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[0])))["call_id"]
    ended = {"type": "ended", "at": "2026-11-23T10:03:00+08:00", "duration_s": 150}
    status, first = await event(tenant, call, **ended)
    assert status == 201
    assert first["violation"] is None
    status, _ = await event(tenant, call, type="answered", at="2026-11-23T10:00:30+08:00")
    assert status == 201
    status, again = await event(tenant, call, **ended)
    assert status == 200
    assert again["duplicate"] is True
    assert again["event_id"] == first["event_id"]
    count = await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1::uuid", call)
    assert count == 2


async def test_unknown_call_is_404(tenant: Tenant) -> None:
    for call in ("00000000-0000-7000-8000-000000000000", "not-a-call"):
        status, body = await event(tenant, call, type="dialed")
        assert status == 404
        assert body["error"]["code"] == "not_found"


async def test_event_validation(tenant: Tenant) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[1])))["call_id"]
    for body, field in (
        ({"type": "hangup"}, "type"),
        ({}, "type"),
        ({"type": "ended", "duration_s": -1}, "duration_s"),
        ({"type": "dialed", "at": "yesterday"}, "at"),
    ):
        status, answer = await event(tenant, call, **body)
        assert status == 400, body
        assert field in answer["error"]["message"]


async def test_event_for_a_denied_call_is_a_violation(tenant: Tenant, db: Any) -> None:
    denied = await tenant.precheck(tenant.marketing(tenant.listed[2], script_version=9))
    assert denied["decision"] == "deny"
    status, body = await event(tenant, denied["call_id"], type="dialed")
    assert status == 409
    assert body["error"]["code"] == "call_denied"
    row = await db.fetchrow(
        "SELECT * FROM compliance_exceptions WHERE call_id = $1::uuid", denied["call_id"]
    )
    assert row["kind"] == "call_after_deny"
    assert row["state"] == "open"


async def test_dial_after_the_allow_expired_is_accepted_as_a_violation(
    tenant: Tenant, db: Any
) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[3])))["call_id"]
    status, body = await event(tenant, call, type="dialed", at="2026-11-23T10:01:30+08:00")
    assert status == 201
    assert body["violation"] == "dialed_after_expiry"
    kind = await db.fetchval(
        "SELECT kind FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )
    assert kind == "dialed_after_expiry"


async def test_refusal_blocks_next_marketing_call(
    tenant: Tenant, db: Any, make_client: Any, settings: Any, clock: Clock
) -> None:
    number = tenant.listed[4]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    status, body = await event(tenant, call, type="opt_out")
    assert status == 201
    assert body["dnc_listed"] is True
    other = await make_client(settings, clock)
    resp = await other.post(
        "/v1/precheck", json=tenant.marketing(number), headers=bearer(tenant.tokens["dialer"])
    )
    assert codes(await resp.json()) == {"dnc_listed"}
    entry = await db.fetchrow(
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL", e164(number)
    )
    assert entry["source"] == "customer_refusal"
    assert entry["scope"] == "marketing"
    assert str(entry["evidence_call_id"]) == call
    # A marketing refusal does not stop the mandated return visit.
    assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"


async def test_refusal_of_every_call_blocks_callbacks_too(tenant: Tenant) -> None:
    number = tenant.listed[5]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    status, _ = await event(tenant, call, type="opt_out", scope="all")
    assert status == 201
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_opt_out_on_a_denied_call_still_lists_the_number(tenant: Tenant) -> None:
    number = tenant.listed[0]
    denied = await tenant.precheck(tenant.marketing(number, script_version=9))
    status, body = await event(tenant, denied["call_id"], type="opt_out")
    assert status == 409
    assert "opt-out was recorded" in body["error"]["message"]
    assert "dnc_listed" in codes(await tenant.precheck(tenant.marketing(number)))


async def test_event_time_out_of_range_is_400(tenant: Tenant) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[1])))["call_id"]
    status, answer = await event(tenant, call, type="dialed", at="9999-12-31T23:59:59-12:00")
    assert status == 400
    assert "at" in answer["error"]["message"]
