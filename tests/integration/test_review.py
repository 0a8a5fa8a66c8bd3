"""Review: filters, cursor paging while calls arrive, masking by role, export, audit log,
compliance exceptions."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from gateway.services.review import CallFilter
from tests.integration.tenant import OPEN_POLICY, Tenant, e164
from tests.support.clock import Clock
from tests.support.headers import bearer
from tests.support.processes import run_cli


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok(
        "PUT",
        "/v1/policy",
        "admin",
        json={
            **OPEN_POLICY,
            "frequency": {"per_day": None, "per_7_days": None, "min_gap_minutes": 0},
        },
    )
    return await t.build(list_size=4)


async def test_filters_and_paging_newest_first(tenant: Tenant, clock: Clock) -> None:
    made = []
    for i in range(7):
        clock.advance(seconds=1)
        made.append((await tenant.precheck(tenant.marketing(tenant.listed[i % 2])))["call_id"])
    clock.advance(seconds=1)
    denied = await tenant.precheck(tenant.marketing(tenant.listed[2], script_version=5))
    query = f"/v1/calls?agent_id={tenant.agent}&limit=3"
    page = await tenant.ok("GET", query)
    assert [c["call_id"] for c in page["items"]] == [denied["call_id"], *made[::-1][:2]]
    seen = [c["call_id"] for c in page["items"]]
    # Calls arriving meanwhile do not disturb the pages already handed out.
    clock.advance(seconds=1)
    await tenant.precheck(tenant.marketing(tenant.listed[0]))
    while page["next_cursor"]:
        page = await tenant.ok("GET", f"{query}&cursor={page['next_cursor']}")
        seen += [c["call_id"] for c in page["items"]]
    assert seen == [denied["call_id"], *made[::-1]]
    by_reason = await tenant.ok(
        "GET", f"/v1/calls?agent_id={tenant.agent}&reason=script_not_approved"
    )
    assert [c["call_id"] for c in by_reason["items"]] == [denied["call_id"]]
    by_callee = await tenant.ok(
        "GET", f"/v1/calls?callee={tenant.listed[1]}&decision=allow&agent_id={tenant.agent}"
    )
    assert {c["call_id"] for c in by_callee["items"]} == set(made[1::2])
    window = await tenant.ok(
        "GET",
        f"/v1/calls?agent_id={tenant.agent}&from=2026-11-23T10:00:02+08:00"
        "&to=2026-11-23T10:00:04+08:00",
    )
    assert [c["call_id"] for c in window["items"]] == [made[2], made[1]]


async def test_bad_review_queries_are_400(tenant: Tenant) -> None:
    for query, field in (
        ("callee=12", "callee"),
        ("reason=rude", "reason"),
        ("decision=maybe", "decision"),
        ("cursor=zzz", "cursor"),
        ("limit=100000", "limit"),
        ("from=yesterday", "from"),
        ("colour=red", "colour"),
    ):
        status, body = await tenant.call("GET", f"/v1/calls?{query}")
        assert status == 400, query
        assert field in body["error"]["message"]


async def test_numbers_are_masked_for_auditors(tenant: Tenant) -> None:
    number = tenant.listed[3]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    full = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert full["callee"] == e164(number)
    assert full["request"]["callee"] == number
    masked = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    assert masked["callee"] == f"{number[:3]}****{number[-4:]}"
    assert masked["request"]["callee"] == masked["callee"]
    listed = await tenant.ok("GET", f"/v1/calls?agent_id={tenant.agent}", "auditor")
    assert all("****" in c["callee"] for c in listed["items"])
    status, _ = await tenant.call("GET", f"/v1/calls/{call}", "dialer")
    assert status == 403


async def test_call_detail_shows_the_whole_record(tenant: Tenant) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[0])))["call_id"]
    await tenant.ok(
        "POST",
        f"/v1/calls/{call}/events",
        "dialer",
        json={"type": "answered", "at": "2026-11-23T10:00:20+08:00"},
    )
    detail = await tenant.ok("GET", f"/v1/calls/{call}")
    assert detail["decision"] == "allow"
    assert detail["reasons"] == []
    assert detail["request"]["agent_id"] == tenant.agent
    assert [e["type"] for e in detail["events"]] == ["answered"]
    assert detail["recording"] is None
    assert detail["policy_version"].startswith("r")
    status, _ = await tenant.call("GET", "/v1/calls/00000000-0000-7000-8000-000000000000")
    assert status == 404


async def test_export_streams_csv_and_is_audited(tenant: Tenant, db: Any) -> None:
    call = (await tenant.precheck(tenant.marketing(tenant.listed[1])))["call_id"]
    resp = await tenant.client.get(
        "/v1/export/calls?from=2026-11-23T00:00:00%2B08:00&to=2026-11-24T00:00:00+08:00",
        headers=bearer(tenant.tokens["auditor"]),
    )
    assert resp.status == 200
    rows = list(csv.DictReader(io.StringIO(await resp.text())))
    mine = [r for r in rows if r["call_id"] == call]
    assert len(mine) == 1
    assert "****" in mine[0]["callee"]
    assert mine[0]["decision"] == "allow"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE entity = 'calls' AND "
            "action = 'export' AND actor = 'test-auditor'"
        )
        >= 1
    )


async def test_audit_log_pages_and_detects_tampering(
    tenant: Tenant, db: Any, settings: Any
) -> None:
    page = await tenant.ok("GET", "/v1/audit?entity=agent&limit=2", "auditor")
    assert len(page["items"]) == 2
    assert page["items"][0]["seq"] > page["items"][1]["seq"]
    older = await tenant.ok(
        "GET", f"/v1/audit?entity=agent&limit=2&cursor={page['next_cursor']}", "auditor"
    )
    assert older["items"][0]["seq"] < page["items"][1]["seq"]
    code, out, _ = await run_cli(settings, "audit", "verify")
    assert code == 0, out
    assert "intact" in out
    victim = page["items"][1]["seq"]
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    try:
        await db.execute("UPDATE audit_log SET actor = 'someone-else' WHERE seq = $1", victim)
    finally:
        await db.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")
    code, out, _ = await run_cli(settings, "audit", "verify")
    assert code == 1
    assert f"BROKEN at entry {victim}" in out
    # Put it back so later tests see an intact chain.
    await db.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update")
    try:
        await db.execute(
            "UPDATE audit_log SET actor = $2 WHERE seq = $1", victim, page["items"][1]["actor"]
        )
    finally:
        await db.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update")


async def test_audit_log_cannot_be_changed_in_place(db: Any) -> None:
    import asyncpg

    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 1")


async def test_exceptions_are_listed_and_resolved_with_a_note(tenant: Tenant, db: Any) -> None:
    denied = await tenant.precheck(tenant.marketing(tenant.listed[2], script_version=5))
    status, _ = await tenant.call(
        "POST", f"/v1/calls/{denied['call_id']}/events", "dialer", json={"type": "dialed"}
    )
    assert status == 409
    page = await tenant.ok("GET", "/v1/exceptions?state=open&kind=call_after_deny")
    mine = [e for e in page["items"] if e["call_id"] == denied["call_id"]]
    assert len(mine) == 1
    status, body = await tenant.call(
        "PATCH", f"/v1/exceptions/{mine[0]['id']}", json={"state": "resolved"}
    )
    assert status == 400
    assert "note" in body["error"]["message"]
    done = await tenant.ok(
        "PATCH",
        f"/v1/exceptions/{mine[0]['id']}",
        json={"state": "resolved", "note": "agent retrained"},
    )
    assert done["state"] == "resolved"
    assert done["updated_by"] == "test-supervisor"
    status, _ = await tenant.call(
        "PATCH", "/v1/exceptions/999999999", json={"state": "resolved", "note": "x"}
    )
    assert status == 404


async def test_the_reasons_index_takes_entries_as_decisions_are_written(db: Any) -> None:
    # No pending list for a later insert to merge while a dialer waits for its answer.
    options = await db.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'calls_reasons'")
    assert options == ["fastupdate=off"]


async def test_the_reasons_index_holds_denied_calls_and_serves_the_reason_filter(
    db: Any, tenant: Tenant
) -> None:
    definition = await db.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'calls_reasons'"
    )
    assert definition.endswith("WHERE (decision = 'deny'::text)")
    # The filter's conditions imply the index's, so the planner may use it.
    where = CallFilter(reason="dnc_listed").where()
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        plan = await db.fetch(f"EXPLAIN SELECT call_id FROM calls {where.sql()}", *where.params)
    assert "calls_reasons" in "\n".join(r[0] for r in plan)
    # Through the API: the denied call is found by its reason.
    denied = await tenant.precheck(tenant.marketing(tenant.listed[2], script_version=5))
    assert denied["decision"] == "deny"
    one = await tenant.ok(
        "GET", f"/v1/calls?agent_id={tenant.agent}&decision=deny&reason=script_not_approved"
    )
    assert [c["call_id"] for c in one["items"]] == [denied["call_id"]]
