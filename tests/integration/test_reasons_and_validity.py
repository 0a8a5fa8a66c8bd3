"""Answers explain themselves in Chinese and cite their source; an allow is bounded by the
calling window; a dial on an allow whose callee was listed since is an exception."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, codes
from tests.support.clock import Clock
from tests.support.headers import bearer

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=6)


async def event(tenant: Tenant, call_id: str, **body: Any) -> tuple[int, Any]:
    return await tenant.call("POST", f"/v1/calls/{call_id}/events", "dialer", json=body)


def assert_explained(reasons: list[dict[str, Any]]) -> None:
    assert reasons
    for r in reasons:
        assert set(r) == {"code", "rule", "message", "message_zh", "source"}, r
        assert HAN.search(r["message_zh"]) and HAN.search(r["source"]), r


async def test_denied_answers_and_records_speak_chinese_and_cite_sources(
    tenant: Tenant, client: Any
) -> None:
    body = tenant.marketing(tenant.listed[0], script_version=9, agent_id="nobody")
    resp = await client.post("/v1/precheck", json=body, headers=bearer(tenant.tokens["dialer"]))
    raw = await resp.read()
    assert "话术".encode() in raw  # Chinese as UTF-8, not \\u escapes
    answer = await resp.json()
    assert codes(answer) == {"script_not_approved", "agent_not_authorized"}
    assert_explained(answer["reasons"])
    by_code = {r["code"]: r for r in answer["reasons"]}
    assert "第 9 版" in by_code["script_not_approved"]["message_zh"]
    assert "保监发〔2010〕99号" in by_code["script_not_approved"]["source"]

    record = await tenant.ok("GET", f"/v1/calls/{answer['call_id']}", "auditor")
    assert record["reasons"] == answer["reasons"]

    simulated = await tenant.ok(
        "POST", "/v1/precheck/simulate", json={**body, "at": "2026-11-23T10:00:00+08:00"}
    )
    assert_explained(simulated["reasons"])


async def test_a_record_stored_before_reasons_spoke_chinese_is_explained_from_the_table(
    tenant: Tenant, db: Any
) -> None:
    answer = await tenant.precheck(tenant.marketing(tenant.listed[1], script_version=9))
    # As an earlier version stored it (the append-only trigger is bypassed to make one).
    await db.execute("SET session_replication_role = replica")
    await db.execute(
        'UPDATE calls SET reasons = \'[{"code": "script_not_approved", "rule": "script", '
        '"message": "script s v9 is not registered"}]\'::jsonb WHERE call_id = $1::uuid',
        answer["call_id"],
    )
    await db.execute("SET session_replication_role = DEFAULT")
    record = await tenant.ok("GET", f"/v1/calls/{answer['call_id']}", "supervisor")
    (r,) = record["reasons"]
    assert r["message"] == "script s v9 is not registered"
    assert r["message_zh"] == "话术未经审核备案或不属于该营销活动"
    assert_explained(record["reasons"])


async def test_error_envelopes_carry_a_chinese_message(tenant: Tenant, client: Any) -> None:
    body = tenant.marketing(tenant.listed[2], purpose="sales")
    resp = await client.post("/v1/precheck", json=body, headers=bearer(tenant.tokens["dialer"]))
    assert resp.status == 400
    raw = await resp.read()
    assert "请求无效".encode() in raw
    error = (await resp.json())["error"]
    assert error["code"] == "invalid_request"
    assert error["message_zh"].startswith("请求无效：") and "purpose" in error["message_zh"]

    resp = await client.get("/v1/calls", headers=bearer("not-a-token"))
    error = (await resp.json())["error"]
    assert resp.status == 401 and HAN.search(error["message_zh"])
    resp = await client.get("/v1/no-such-route")
    error = (await resp.json())["error"]
    assert resp.status == 404 and error["message_zh"].startswith("未找到")


@pytest.mark.parametrize(
    ("now", "valid_until"),
    [
        ("2026-11-23T10:00:00+08:00", "2026-11-23T10:01:00+08:00"),
        ("2026-11-23T19:59:30+08:00", "2026-11-23T20:00:00+08:00"),
        ("2026-11-21T17:59:45+08:00", "2026-11-21T18:00:00+08:00"),  # a rest day
    ],
)
async def test_an_allow_never_outlives_its_calling_window(
    tenant: Tenant, clock: Clock, db: Any, now: str, valid_until: str
) -> None:
    clock.set(now)
    answer = await tenant.precheck(tenant.callback(tenant.listed[3]))
    assert answer["decision"] == "allow", answer
    assert answer["valid_until"] == valid_until
    stored = await db.fetchval(
        "SELECT valid_until FROM calls WHERE call_id = $1::uuid", answer["call_id"]
    )
    assert stored == datetime.fromisoformat(valid_until)


async def test_a_dial_on_an_allow_whose_callee_was_listed_since_is_an_exception(
    tenant: Tenant, clock: Clock, db: Any
) -> None:
    number = tenant.listed[4]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    clock.advance(seconds=10)
    await tenant.ok(
        "PUT", f"/v1/dnc/{number}", json={"reason": "customer called to refuse", "scope": "all"}
    )
    status, body = await event(tenant, call, type="dialed", at="2026-11-23T10:00:20+08:00")
    assert status == 201
    assert body["violation"] == "dialed_after_listing"
    row = await db.fetchrow(
        "SELECT kind, detail FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )
    assert row["kind"] == "dialed_after_listing"
    assert "listed_at" in row["detail"]
    # The same event again is a repeat, not a second exception.
    status, again = await event(tenant, call, type="dialed", at="2026-11-23T10:00:20+08:00")
    assert status == 200 and again["duplicate"] is True
    count = await db.fetchval(
        "SELECT count(*) FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )
    assert count == 1


async def test_a_listing_that_does_not_cover_the_purpose_is_no_exception(
    tenant: Tenant, clock: Clock, db: Any
) -> None:
    number = tenant.listed[5]
    call = (await tenant.precheck(tenant.callback(number)))["call_id"]
    clock.advance(seconds=10)
    await tenant.ok(
        "PUT", f"/v1/dnc/{number}", json={"reason": "no sales calls", "scope": "marketing"}
    )
    status, body = await event(tenant, call, type="dialed", at="2026-11-23T10:00:20+08:00")
    assert status == 201
    assert body["violation"] is None
    assert not await db.fetchval(
        "SELECT count(*) FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )


async def test_the_calls_own_opt_out_reported_before_its_dial_is_no_exception(
    tenant: Tenant, db: Any
) -> None:
    number = tenant.listed[0]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    status, _ = await event(tenant, call, type="opt_out", at="2026-11-23T10:00:40+08:00")
    assert status == 201
    status, body = await event(tenant, call, type="dialed", at="2026-11-23T10:00:10+08:00")
    assert status == 201 and body["violation"] is None
    assert not await db.fetchval(
        "SELECT count(*) FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )
