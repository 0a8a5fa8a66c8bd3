"""Policies sold on calls, their guarded terms, disputes and return visits, over HTTP with
real PostgreSQL and Redis."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, codes, mobile
from tests.support.clock import Clock

BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=6)


def bj(moment: str) -> str:
    """A time from an answer, in Beijing time."""
    return datetime.fromisoformat(moment).astimezone(BEIJING).isoformat()


async def sales_call(tenant: Tenant, index: int = 0) -> str:
    answer = await tenant.precheck(tenant.marketing(tenant.listed[index]))
    assert answer["decision"] == "allow", answer
    return str(answer["call_id"])


async def link(tenant: Tenant, call: str, role: str = "dialer", **body: Any) -> Any:
    return await tenant.call("POST", f"/v1/calls/{call}/policy", role, json=body)


async def test_a_call_sells_several_policies_and_keeps_the_longest_lived(tenant: Tenant) -> None:
    call = await sales_call(tenant)
    short = f"S-{tenant.suffix}"
    long = f"L-{tenant.suffix}"
    status, sale = await link(
        tenant, call, policy_no=short, term_months=12, terminated_at="2026-01-01T00:00:00+08:00"
    )
    assert status == 201, sale
    assert bj(sale["retention_until"]).startswith("2031-01-01")  # 5 years after it ended
    status, sale = await link(tenant, call, policy_no=long, term_months=240)
    assert status == 201, sale
    assert sale["retention_until"] is None  # the long one is in force
    # The same policy again, with the same body: nothing changes.
    status, again = await link(tenant, call, policy_no=long, term_months=240)
    assert status == 200
    assert again["signed_at"] == sale["signed_at"]
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    assert [p["policy_no"] for p in detail["policies"]] == [short, long]
    assert detail["sale"]["policy_no"] == short
    assert detail["retention_until"] is None


async def test_the_dialer_cannot_change_a_linked_policys_terms(tenant: Tenant, db: Any) -> None:
    call = await sales_call(tenant, 1)
    policy = f"P-{tenant.suffix}"
    status, _ = await link(tenant, call, policy_no=policy, term_months=240)
    assert status == 201
    # A shorter term, or a termination, would shorten how long the evidence is kept.
    for body in (
        {"term_months": 12},
        {"term_months": 240, "terminated_at": "2026-11-01T00:00:00+08:00"},
    ):
        for role in ("dialer", "supervisor"):
            status, answer = await link(tenant, call, role, policy_no=policy, **body)
            assert status == 403, answer
            assert answer["error"]["code"] == "forbidden"
            assert f"PATCH /v1/policies/{policy}" in answer["error"]["message"]
    # Nor through another call.
    other = await sales_call(tenant, 2)
    status, _ = await link(tenant, other, policy_no=policy, term_months=12)
    assert status == 403
    status, _ = await link(tenant, other, policy_no=policy, term_months=240)
    assert status == 201
    row = await db.fetchrow("SELECT * FROM policies WHERE policy_no = $1", policy)
    assert (row["term_months"], row["terminated_at"]) == (240, None)


async def test_a_supervisor_ends_a_policy_with_a_reason_and_every_call_follows(
    tenant: Tenant, db: Any
) -> None:
    first, second = await sales_call(tenant, 3), await sales_call(tenant, 4)
    policy = f"P-{tenant.suffix}"
    for call in (first, second):
        status, _ = await link(tenant, call, policy_no=policy, term_months=24)
        assert status == 201
    path = f"/v1/policies/{policy}"
    ended = "2026-11-20T00:00:00+08:00"
    status, _ = await tenant.call("PATCH", path, "dialer", json={"terminated_at": ended})
    assert status == 403
    status, answer = await tenant.call("PATCH", path, "supervisor", json={"terminated_at": ended})
    assert status == 400 and "reason" in answer["error"]["message"]
    status, answer = await tenant.call(
        "PATCH",
        path,
        "supervisor",
        json={"terminated_at": "2026-12-01T00:00:00+08:00", "reason": "surrendered"},
    )
    assert status == 400 and "terminated_at" in answer["error"]["message"]  # in the future
    view = await tenant.ok(
        "PATCH", path, "supervisor", json={"terminated_at": ended, "reason": "surrendered"}
    )
    assert [c["call_id"] for c in view["calls"]] == [first, second]
    assert all(bj(c["retention_until"]).startswith("2036-11-20") for c in view["calls"])
    assert view["return_visit"]["status"] == "due"
    read = await tenant.ok("GET", path, "auditor")
    assert read["terminated_at"] == view["terminated_at"]
    detail = await tenant.ok("GET", f"/v1/calls/{second}", "supervisor")
    assert bj(detail["retention_until"]).startswith("2036-11-20")
    audited = await db.fetchrow(
        "SELECT * FROM audit_log WHERE entity = 'insurance_policy' AND entity_id = $1", policy
    )
    assert audited["reason"] == "surrendered" and audited["action"] == "amend"
    status, _ = await tenant.call("GET", "/v1/policies/nope", "supervisor")
    assert status == 404


@pytest.mark.parametrize("purpose", ["service", "callback"])
async def test_a_sale_on_a_non_sales_call_is_stored_and_opens_an_exception(
    tenant: Tenant, purpose: str
) -> None:
    answer = await tenant.precheck(tenant.callback(mobile(), purpose=purpose))
    assert answer["decision"] == "allow", answer
    call = answer["call_id"]
    status, sale = await link(tenant, call, policy_no=f"N-{tenant.suffix}", term_months=24)
    assert status == 201
    assert sale["exception"] == "sale_on_non_sales_call"
    assert sale["return_visit_due_by"] is None
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert [e["kind"] for e in detail["exceptions"]] == ["sale_on_non_sales_call"]
    assert detail["policies"][0]["policy_no"] == f"N-{tenant.suffix}"


async def test_a_sale_on_a_sales_call_opens_no_exception(tenant: Tenant) -> None:
    call = await sales_call(tenant, 5)
    _, sale = await link(tenant, call, policy_no=f"M-{tenant.suffix}", term_months=12)
    assert sale["exception"] is None
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert detail["exceptions"] == []


async def test_disputes_open_from_a_complaint_or_a_supervisor_and_close(
    tenant: Tenant, db: Any
) -> None:
    call = await sales_call(tenant)
    await tenant.ok("POST", f"/v1/calls/{call}/events", "dialer", json={"type": "complaint"})
    status, opened = await tenant.call(
        "POST",
        f"/v1/calls/{call}/disputes",
        "supervisor",
        json={"kind": "regulator", "ref": "银保监 2026-77"},
    )
    assert status == 201, opened
    status, _ = await tenant.call(
        "POST", f"/v1/calls/{call}/disputes", "dialer", json={"kind": "litigation", "ref": "x"}
    )
    assert status == 403
    status, _ = await tenant.call(
        "POST", f"/v1/calls/{call}/disputes", "supervisor", json={"kind": "gossip", "ref": "x"}
    )
    assert status == 400
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    kinds = [(d["kind"], d["open"]) for d in detail["disputes"]]
    assert kinds == [("complaint", True), ("regulator", True)]
    path = f"/v1/disputes/{opened['id']}"
    status, answer = await tenant.call(
        "PATCH", path, json={"closed_at": "2026-12-01T00:00:00+08:00", "note": "answered"}
    )
    assert status == 400 and "closed_at" in answer["error"]["message"]
    closed = await tenant.ok(
        "PATCH", path, json={"closed_at": "2026-11-23T10:00:00+08:00", "note": "answered"}
    )
    assert closed["open"] is False and closed["note"] == "answered"
    status, _ = await tenant.call(
        "PATCH", path, json={"closed_at": "2026-11-23T10:00:00+08:00", "note": "again"}
    )
    assert status == 409
    status, _ = await tenant.call(
        "PATCH", "/v1/disputes/999999999", json={"closed_at": closed["closed_at"], "note": "x"}
    )
    assert status == 404
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE entity = 'dispute' AND entity_id = $1",
            str(opened["id"]),
        )
    ]
    assert actions == ["open", "close"]


async def test_no_sale_days_below_ninety_is_below_the_floor(tenant: Tenant) -> None:
    for days, status, code in ((89, 400, "policy_below_floor"), (0, 400, None), (90, 200, None)):
        body = {**OPEN_POLICY, "retention": {"no_sale_days": days}}
        got, answer = await tenant.call("PUT", "/v1/policy", "admin", json=body)
        assert got == status, answer
        if code is not None:
            assert answer["error"]["code"] == code
            assert "retention.no_sale_days" in answer["error"]["message"]
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


# --- return visits -----------------------------------------------------------------------------


async def all_purpose_agent(tenant: Tenant) -> str:
    agent = f"C-{tenant.suffix}"
    await tenant.ok(
        "POST",
        "/v1/agents",
        json={
            "agent_id": agent,
            "name": "赵敏",
            "licence_no": "L3",
            "licence_valid_until": "2035-12-31",
            "training_valid_until": "2035-12-31",
            "purposes": ["marketing", "appointment", "callback", "service"],
        },
    )
    return agent


async def test_a_return_visit_is_due_refused_to_the_seller_and_marked_done(
    tenant: Tenant, clock: Clock
) -> None:
    seller = await all_purpose_agent(tenant)
    callee = tenant.listed[0]
    answer = await tenant.precheck(tenant.marketing(callee, agent_id=seller))
    assert answer["decision"] == "allow", answer
    sale_call = answer["call_id"]
    policy = f"V-{tenant.suffix}"
    status, sale = await link(
        tenant, sale_call, policy_no=policy, term_months=240, signed_at="2026-11-23T09:30:00+08:00"
    )
    assert status == 201
    assert bj(sale["return_visit_due_by"]).startswith("2026-12-08T09:30:00")  # 15 days
    visits = await tenant.ok("GET", "/v1/return-visits?status=due", "auditor")
    mine = [v for v in visits["items"] if v["policy_no"] == policy]
    assert mine and mine[0]["seller_agent_id"] == seller
    # The seller may not make the visit, told by the policy alone.
    by_seller = await tenant.precheck(tenant.callback(callee, agent_id=seller, policy_no=policy))
    assert "callback_by_seller" in codes(by_seller)
    assert by_seller["decision"] == "deny"
    # Another agent may.
    visit = await tenant.precheck(tenant.callback(callee, policy_no=policy))
    assert visit["decision"] == "allow", visit
    call = visit["call_id"]
    events = f"/v1/calls/{call}/events"
    status, answer = await tenant.call("POST", events, "dialer", json={"type": "visit_completed"})
    assert status == 409 and "answered" in answer["error"]["message"]
    await tenant.ok("POST", events, "dialer", json={"type": "answered"})
    await tenant.ok("POST", events, "dialer", json={"type": "visit_completed"})
    done = await tenant.ok("GET", "/v1/return-visits?status=done", "supervisor")
    [row] = [v for v in done["items"] if v["policy_no"] == policy]
    assert row["done_call_id"] == call and row["done_in_time"] is True
    due = await tenant.ok("GET", "/v1/return-visits?status=due", "supervisor")
    assert policy not in {v["policy_no"] for v in due["items"]}
    # The visit's recording is kept while the policy is in force.
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert detail["visited_policy"] == policy
    assert detail["retention_until"] is None


async def test_a_callback_naming_an_unknown_policy_is_400(tenant: Tenant) -> None:
    status, answer = await tenant.call(
        "POST",
        "/v1/precheck",
        "dialer",
        json=tenant.callback(mobile(), policy_no="never-linked"),
    )
    assert status == 400 and "policy_no" in answer["error"]["message"]


async def test_an_overdue_visit_and_short_policies(tenant: Tenant, clock: Clock) -> None:
    call = await sales_call(tenant, 2)
    late = f"O-{tenant.suffix}"
    _, sale = await link(
        tenant, call, policy_no=late, term_months=13, signed_at="2026-11-01T10:00:00+08:00"
    )
    assert bj(sale["return_visit_due_by"]).startswith("2026-11-16")
    overdue = await tenant.ok("GET", "/v1/return-visits?status=overdue&limit=500", "auditor")
    assert late in {v["policy_no"] for v in overdue["items"]}
    _, short = await link(tenant, call, policy_no=f"Y-{tenant.suffix}", term_months=12)
    assert short["return_visit_due_by"] is None  # a year or less: no visit
    status, _ = await tenant.call("GET", "/v1/return-visits?status=late", "auditor")
    assert status == 400
    status, _ = await tenant.call("GET", "/v1/return-visits", "dialer")
    assert status == 403


async def test_a_callback_without_a_policy_is_kept_until_a_supervisor_names_it(
    tenant: Tenant, db: Any
) -> None:
    seller_call = await sales_call(tenant, 4)
    policy = f"K-{tenant.suffix}"
    await link(tenant, seller_call, policy_no=policy, term_months=24)
    visit = await tenant.precheck(tenant.callback(tenant.listed[4]))
    call = visit["call_id"]
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert detail["visited_policy"] is None and detail["retention_until"] is None
    path = f"/v1/calls/{call}/visited-policy"
    status, _ = await tenant.call("PUT", path, "supervisor", json={"policy_no": policy})
    assert status == 400  # the reason is required
    status, _ = await tenant.call(
        "PUT", path, "supervisor", json={"policy_no": "nope", "reason": "r"}
    )
    assert status == 400
    named = await tenant.ok(
        "PUT", path, "supervisor", json={"policy_no": policy, "reason": "visit log 2026-11-23"}
    )
    assert named["policy_no"] == policy
    status, _ = await tenant.call(
        "PUT", path, "supervisor", json={"policy_no": f"S-{tenant.suffix}", "reason": "r"}
    )
    assert status == 409
    status, _ = await tenant.call(
        "PUT",
        f"/v1/calls/{seller_call}/visited-policy",
        "supervisor",
        json={"policy_no": policy, "reason": "r"},
    )
    assert status == 409  # not a return visit
    await tenant.ok(
        "PATCH",
        f"/v1/policies/{policy}",
        json={"terminated_at": "2026-11-01T00:00:00+08:00", "reason": "lapsed"},
    )
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert bj(detail["retention_until"]).startswith("2036-11-")  # 10 years from the end


# --- hostile and concurrent input ---------------------------------------------------------


async def test_a_policy_number_with_a_control_character_is_refused_not_a_500(
    tenant: Tenant,
) -> None:
    for method in ("GET", "PATCH"):
        status, answer = await tenant.call(
            method, "/v1/policies/P%00x", "supervisor", json={"reason": "r", "term_months": 1}
        )
        assert status == 404, answer
    call = await sales_call(tenant, 5)
    status, answer = await link(tenant, call, policy_no="P\u0000x", term_months=24)
    assert status == 400 and "policy_no" in answer["error"]["message"]


@pytest.mark.parametrize("cursor", ["9223372036854775808", "99999999999999999999", "0", "-1"])
async def test_an_out_of_range_cursor_is_400(tenant: Tenant, cursor: str) -> None:
    for path in ("/v1/return-visits", "/v1/exceptions"):
        status, answer = await tenant.call("GET", f"{path}?cursor={cursor}", "supervisor")
        assert status == 400, (path, answer)
        assert "cursor" in answer["error"]["message"]


async def test_two_supervisors_naming_a_visit_at_once_both_answer(tenant: Tenant) -> None:
    import asyncio

    seller_call = await sales_call(tenant, 1)
    policy = f"N-{tenant.suffix}"
    await link(tenant, seller_call, policy_no=policy, term_months=24)
    for _ in range(4):
        call = (await tenant.precheck(tenant.callback(tenant.listed[1])))["call_id"]
        path = f"/v1/calls/{call}/visited-policy"
        body = {"policy_no": policy, "reason": "visit log"}
        answers = await asyncio.gather(
            tenant.call("PUT", path, "supervisor", json=body),
            tenant.call("PUT", path, "supervisor", json=body),
        )
        assert [status for status, _ in answers] == [200, 200], answers


async def test_the_seller_cannot_complete_the_return_visit(tenant: Tenant, db: Any) -> None:
    seller = await all_purpose_agent(tenant)
    callee = tenant.listed[2]
    sale_call = (await tenant.precheck(tenant.marketing(callee, agent_id=seller)))["call_id"]
    policy = f"B-{tenant.suffix}"
    await link(tenant, sale_call, policy_no=policy, term_months=240)
    # A callback by the seller that named no policy passes the check...
    visit = await tenant.precheck(tenant.callback(callee, agent_id=seller))
    assert visit["decision"] == "allow", visit
    call = visit["call_id"]
    events = f"/v1/calls/{call}/events"
    await tenant.ok("POST", events, "dialer", json={"type": "answered"})
    # ...and a supervisor names the policy afterwards: it is kept, and flagged.
    await tenant.ok(
        "PUT",
        f"/v1/calls/{call}/visited-policy",
        "supervisor",
        json={"policy_no": policy, "reason": "visit log"},
    )
    kind = await db.fetchval(
        "SELECT kind FROM compliance_exceptions WHERE call_id = $1::uuid", call
    )
    assert kind == "return_visit_by_seller"
    status, answer = await tenant.call("POST", events, "dialer", json={"type": "visit_completed"})
    assert status == 409 and "sold" in answer["error"]["message"]
    due = await tenant.ok("GET", "/v1/return-visits?status=due", "supervisor")
    assert policy in {v["policy_no"] for v in due["items"]}
