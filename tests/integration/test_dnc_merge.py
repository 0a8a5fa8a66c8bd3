"""Do-not-call entries never weaken by accident: listings merge (PUT, import, opt-out),
only a replace narrows, and a customer's refusal is protected for six calendar months."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.policy.retention import earliest_refusal_expiry
from tests.integration.tenant import OPEN_POLICY, Tenant, codes, e164, mobile
from tests.integration.test_dnc import import_csv
from tests.support.clock import Clock

CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=8)


async def refuse(tenant: Tenant, number: str, scope: str = "marketing", **more: Any) -> Any:
    body = {"reason": "客户明确拒绝", "source": "customer_refusal", "scope": scope, **more}
    return await tenant.ok("PUT", f"/v1/dnc/{number}", json=body)


async def opt_out(tenant: Tenant, number: str, **event: Any) -> None:
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    status, body = await tenant.call(
        "POST", f"/v1/calls/{call}/events", "dialer", json={"type": "opt_out", **event}
    )
    assert status in (201, 409), body
    assert body.get("dnc_listed", True)


async def active(db: Any, number: str) -> Any:
    return await db.fetchrow(
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL", e164(number)
    )


def as_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def in_days(days: int) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


async def later_check(tenant: Tenant, clock: Clock, body: dict[str, Any], when: datetime) -> Any:
    """A check at `when` (a weekday morning in Beijing near it)."""
    local = when.astimezone(CHINA).replace(hour=10, minute=0, second=0, microsecond=0)
    while local.weekday() >= 5:
        local += timedelta(days=1)
    saved = clock.at
    clock.set(local.isoformat())
    try:
        return await tenant.precheck(body)
    finally:
        clock.set(saved.isoformat())


# The bugs this change fixes, each first seen on the old code.


async def test_an_opt_out_with_the_default_scope_keeps_an_all_entry(
    tenant: Tenant, db: Any
) -> None:
    number = tenant.listed[0]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "no calls at all", "scope": "all"})
    status, body = await tenant.call(
        "POST", f"/v1/calls/{call}/events", "dialer", json={"type": "opt_out"}
    )
    assert status == 201, body
    entry = await active(db, number)
    assert (entry["scope"], entry["source"]) == ("all", "customer_refusal")
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_a_supervisor_expiry_of_tomorrow_does_not_end_a_refusal(
    tenant: Tenant, clock: Clock
) -> None:
    number = tenant.listed[1]
    await refuse(tenant, number)
    status, entry = await tenant.call(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "call back tomorrow", "expires_at": in_days(1).isoformat()},
    )
    assert status == 200, entry
    assert entry["expires_at"] is None
    assert entry["source"] == "supervisor"
    answer = await later_check(tenant, clock, tenant.marketing(number), in_days(3))
    assert "dnc_listed" in codes(answer)


async def test_an_import_with_scope_all_and_an_expiry_keeps_an_open_ended_refusal(
    tenant: Tenant, db: Any, clock: Clock
) -> None:
    number = tenant.listed[2]
    await opt_out(tenant, number)
    ends = in_days(30).astimezone(CHINA).date().isoformat()
    status, body = await import_csv(tenant, f"{number},from the crm,{ends}\n", "?scope=all")
    assert status == 200, body
    assert body["added"] == 1
    entry = await active(db, number)
    assert (entry["scope"], entry["expires_at"]) == ("all", None)
    assert entry["refusal_made_at"] is not None  # the refusal it holds is still protected
    answer = await later_check(tenant, clock, tenant.marketing(number), in_days(40))
    assert "dnc_listed" in codes(answer)


async def test_a_refusal_expiring_before_six_months_is_400_naming_expires_at(
    tenant: Tenant, db: Any
) -> None:
    number = mobile()
    floor = earliest_refusal_expiry(await db.fetchval("SELECT now()"))
    too_soon = (floor - timedelta(hours=1)).isoformat()
    status, body = await tenant.call(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "r", "source": "customer_refusal", "expires_at": too_soon},
    )
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert body["error"]["message"].startswith("expires_at:")
    assert floor.astimezone(CHINA).date().isoformat() in body["error"]["message"]
    entry = await refuse(tenant, number, expires_at=(floor + timedelta(hours=1)).isoformat())
    assert entry["protected_until"] is not None


# Merging


async def test_a_put_without_replace_never_narrows_and_history_keeps_each_entry(
    tenant: Tenant,
) -> None:
    number = tenant.listed[3]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "everything", "scope": "all"})
    status, entry = await tenant.call(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "sales only", "scope": "marketing", "source": "external:crm"},
    )
    assert status == 200
    assert (entry["scope"], entry["source"], entry["reason"]) == (
        "all",
        "external:crm",
        "sales only",
    )
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "auditor")
    first, second = history["entries"]
    assert (first["scope"], first["end_reason"]) == ("all", "superseded by a new entry")
    assert second["supersedes"] == first["id"]
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_the_same_listing_again_changes_nothing(tenant: Tenant) -> None:
    number = tenant.listed[4]
    body = {"reason": "r", "scope": "all"}
    assert (await tenant.call("PUT", f"/v1/dnc/{number}", json=body))[0] == 201
    assert (await tenant.call("PUT", f"/v1/dnc/{number}", json=body))[0] == 200
    history = await tenant.ok("GET", f"/v1/dnc/{number}")
    assert len(history["entries"]) == 1


async def test_an_import_extends_an_expiry_but_never_shortens_one(tenant: Tenant, db: Any) -> None:
    soon, late = mobile(), mobile()
    await tenant.ok(
        "PUT", f"/v1/dnc/{soon}", json={"reason": "r", "expires_at": in_days(10).isoformat()}
    )
    await tenant.ok(
        "PUT", f"/v1/dnc/{late}", json={"reason": "r", "expires_at": in_days(300).isoformat()}
    )
    day = in_days(100).astimezone(CHINA).date().isoformat()
    status, body = await import_csv(tenant, f"{soon},,{day}\n{late},,{day}\n")
    assert status == 200, body
    assert (body["added"], body["already_listed"]) == (1, 1)
    assert (await active(db, soon))["expires_at"].astimezone(CHINA).date().isoformat() == day
    assert (await active(db, late))["expires_at"] > in_days(299)


# Replace, consent and the refusal's protection


async def test_a_replace_narrows_an_entry_without_a_refusal(tenant: Tenant) -> None:
    number = tenant.listed[5]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "everything", "scope": "all"})
    entry = await tenant.ok(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "only sales calls now", "scope": "marketing", "replace": True},
    )
    assert entry["scope"] == "marketing"
    assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"
    history = await tenant.ok("GET", f"/v1/dnc/{number}")
    assert history["entries"][0]["end_reason"] == "replaced: only sales calls now"
    assert history["entries"][0]["consent_evidence"] is None


async def test_a_replace_that_weakens_a_refusal_needs_consent_evidence(
    tenant: Tenant, db: Any
) -> None:
    number = tenant.listed[6]
    await refuse(tenant, number, scope="all")
    narrower = {"reason": "customer called in", "scope": "marketing", "replace": True}
    status, body = await tenant.call("PUT", f"/v1/dnc/{number}", json=narrower)
    assert status == 409
    assert body["error"]["code"] == "refusal_protected"
    assert "consent_evidence" in body["error"]["message"]
    # Told in Chinese too: what is protected, until when (to the second), what to send.
    zh = body["error"]["message_zh"]
    assert "受保护至" in zh and "此次替换" in zh and "consent_evidence" in zh
    assert re.search(r"受保护至 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00，", zh), zh
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}
    evidence = "inbound call 2026-12-01, recording REC-0042"
    entry = await tenant.ok(
        "PUT", f"/v1/dnc/{number}", json={**narrower, "consent_evidence": evidence}
    )
    assert entry["scope"] == "marketing"
    assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "auditor")
    assert history["entries"][0]["consent_evidence"] == evidence
    audited = await db.fetchval(
        "SELECT before FROM audit_log WHERE entity = 'dnc' AND entity_id = $1 "
        "AND action = 'replace'",
        e164(number),
    )
    assert as_json(audited)["consent_evidence"] == evidence


async def test_ending_a_refusal_needs_consent_evidence(tenant: Tenant, db: Any) -> None:
    number = tenant.listed[7]
    await opt_out(tenant, number)
    status, body = await tenant.call("DELETE", f"/v1/dnc/{number}", json={"reason": "mistake"})
    assert status == 409
    assert body["error"]["code"] == "refusal_protected"
    assert "dnc_listed" in codes(await tenant.precheck(tenant.marketing(number)))
    evidence = "signed form F-2026-118"
    ended = await tenant.ok(
        "DELETE", f"/v1/dnc/{number}", json={"reason": "mistake", "consent_evidence": evidence}
    )
    assert ended["consent_evidence"] == evidence
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    before = await db.fetchval(
        "SELECT before FROM audit_log WHERE entity = 'dnc' AND entity_id = $1 "
        "AND action = 'unlist'",
        e164(number),
    )
    assert as_json(before)["consent_evidence"] == evidence


async def test_a_merged_entry_holding_a_refusal_is_protected(tenant: Tenant) -> None:
    number = mobile()
    await refuse(tenant, number)
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "everything", "scope": "all"})
    status, body = await tenant.call("DELETE", f"/v1/dnc/{number}", json={"reason": "r"})
    assert (status, body["error"]["code"]) == (409, "refusal_protected")
    entry = (await tenant.ok("GET", f"/v1/dnc/{number}"))["entries"][-1]
    assert entry["source"] == "supervisor" and entry["protected_until"] is not None


async def test_a_refusal_past_its_protection_ends_without_evidence(tenant: Tenant, db: Any) -> None:
    number = mobile()
    await refuse(tenant, number)
    await db.execute(
        "UPDATE dnc_entries SET refusal_made_at = now() - interval '185 days' "
        "WHERE number = $1 AND ended_at IS NULL",
        e164(number),
    )
    assert (await tenant.call("DELETE", f"/v1/dnc/{number}", json={"reason": "r"}))[0] == 200


async def test_consent_evidence_is_checked(tenant: Tenant) -> None:
    number = mobile()
    await refuse(tenant, number)
    for body, field in (
        ({"reason": "r", "consent_evidence": "form F-1"}, "consent_evidence"),  # no replace
        ({"reason": "r", "replace": True, "consent_evidence": "   "}, "consent_evidence"),
        ({"reason": "r", "replace": True, "consent_evidence": ""}, "consent_evidence"),
        ({"reason": "r", "replace": True, "consent_evidence": "x" * 501}, "consent_evidence"),
        ({"reason": "r", "replace": "yes"}, "replace"),
    ):
        status, answer = await tenant.call("PUT", f"/v1/dnc/{number}", json=body)
        assert status == 400, body
        assert field in answer["error"]["message"], answer
    status, answer = await tenant.call(
        "DELETE", f"/v1/dnc/{number}", json={"reason": "r", "consent_evidence": " "}
    )
    assert status == 400
    assert "consent_evidence" in answer["error"]["message"]
