"""Auditors read every number masked, on every route they can reach, whatever form the
number was written in; supervisors keep reading them in full; the audit chain still
verifies, since masking changes nothing stored."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings

from gateway.app import all_routes
from gateway.policy import mask_number
from gateway.store import audit
from tests.integration.tenant import CALLER_E164, OPEN_POLICY, Tenant, e164, mobile
from tests.support.headers import bearer
from tests.support.written_numbers import Written, shows, written_numbers

# Every route an auditor may call, and what it shows of numbers. A route added for
# auditors fails test_every_auditor_route_is_listed until it is placed here (and its
# masking is tested below or in its own tests).
AUDITOR_ROUTES = {
    ("GET", "/v1/whoami"): "no numbers",
    ("POST", "/v1/precheck/simulate"): "the callee masked; reasons' messages mask callees",
    ("GET", "/v1/caller-ids"): "caller ids in full (the company's published numbers)",
    ("GET", "/v1/scripts"): "numbers in the text masked, unless registered caller ids",
    ("GET", "/v1/agents"): "no customer numbers (the register is not listed)",
    ("GET", "/v1/campaigns"): "caller ids in full",
    ("GET", "/v1/lists"): "no numbers; numbers in the provenance masked",
    ("GET", "/v1/staff-numbers"): "staff numbers masked (employees' numbers)",
    ("GET", "/v1/holidays"): "no numbers",
    ("GET", "/v1/holidays/years"): "no numbers",
    ("GET", "/v1/policy"): "no numbers",
    ("GET", "/v1/dnc/export"): "CSV: numbers masked, numbers in reasons masked",
    ("GET", "/v1/dnc/{number}"): "entry and history masked; the path may be a full number",
    ("GET", "/v1/calls/{call_id}/recording"): "the audio itself; no numbers in headers",
    ("GET", "/v1/calls"): "callees masked",
    ("GET", "/v1/calls/{call_id}"): "callee, request, reasons, events, hold, sale masked",
    ("GET", "/v1/export/calls"): "CSV: callees masked",
    ("GET", "/v1/audit"): "entity ids, before/after, simulated requests, reasons masked",
    ("GET", "/v1/reports/daily"): "counts per campaign and agent; no numbers",
    ("GET", "/v1/policies/{policy_no}"): "policy terms and linked calls; callees masked",
    ("GET", "/v1/return-visits"): "visits per policy; numbers in notes masked",
}


def test_every_auditor_route_is_listed() -> None:
    reachable = {
        (spec.method, spec.path)
        for group in all_routes()
        for spec in group.specs
        if "auditor" in spec.roles
    }
    assert reachable == set(AUDITOR_ROUTES)


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=2)


async def _text(tenant: Tenant, method: str, path: str, role: str, **kw: Any) -> str:
    resp = await tenant.client.request(method, path, headers=bearer(tenant.tokens[role]), **kw)
    assert resp.status < 500, (path, await resp.text())
    return str(await resp.text())


async def _put_everywhere(tenant: Tenant, number: Written) -> str:
    """The number, as typed, put into every place a number can go; returns a call id."""
    form = number.form
    path = quote(form, safe="")
    await tenant.call("PUT", f"/v1/dnc/{path}", json={"reason": f"客户{form}来电拒绝"})
    await tenant.call("POST", "/v1/staff-numbers", json={"number": form, "note": f"分机 {form}"})
    await tenant.ok(
        "PUT",
        f"/v1/lists/{tenant.list_id}-m",
        json={"provenance": f"referred by {form}", "numbers": [form, mobile()]},
    )
    await tenant.ok("PUT", f"/v1/agents/{tenant.agent}/customers", json={"numbers": [form]})
    call = (await tenant.precheck(tenant.marketing(form)))["call_id"]
    await tenant.ok(
        "PUT", f"/v1/calls/{call}/hold", json={"hold": True, "reason": f"complaint by {form}"}
    )
    return str(call)


async def _auditor_reads(tenant: Tenant, number: Written, call: str) -> dict[str, str]:
    form, full = quote(number.form, safe=""), quote(number.e164, safe="")
    simulated = {**tenant.marketing(number.form), "at": "2026-11-24T10:00:00+08:00"}
    reads = {
        "simulate": await _text(tenant, "POST", "/v1/precheck/simulate", "auditor", json=simulated),
    }
    for path in (
        "/v1/audit?limit=30",
        f"/v1/audit?entity_id={full}",
        f"/v1/dnc/{form}",
        f"/v1/dnc/{full}",
        "/v1/staff-numbers",
        "/v1/agents",
        "/v1/lists",
        "/v1/caller-ids",
        "/v1/campaigns",
        "/v1/scripts",
        f"/v1/calls?callee={form}",
        f"/v1/calls/{call}",
        "/v1/export/calls?from=2026-11-23T09:59:00%2B08:00&to=2026-11-23T10:01:00%2B08:00",
        "/v1/reports/daily?date=2026-11-23",
        "/v1/whoami",
        "/v1/policy",
    ):
        reads[path] = await _text(tenant, "GET", path, "auditor")
    return reads


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(number=written_numbers())
async def test_an_auditor_never_reads_a_number_in_full(tenant: Tenant, number: Written) -> None:
    call = await _put_everywhere(tenant, number)
    # The check can fail: supervisors read the number in full where it went.
    assert shows(await _text(tenant, "GET", f"/v1/dnc/{quote(number.e164)}", "supervisor"), number)
    assert shows(await _text(tenant, "GET", f"/v1/calls/{call}", "supervisor"), number)
    assert shows(await _text(tenant, "GET", "/v1/audit?limit=30", "supervisor"), number)
    for path, text in (await _auditor_reads(tenant, number, call)).items():
        assert not shows(text, number), (path, number.form, text)
    # Leave no listing behind for the tests that follow.
    await tenant.call("DELETE", f"/v1/staff-numbers/{quote(number.e164)}")
    await tenant.call("DELETE", f"/v1/dnc/{quote(number.e164)}", json={"reason": "test over"})


async def test_the_do_not_call_export_is_masked_for_auditors_only(tenant: Tenant) -> None:
    number = mobile()
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": f"客户 {number} 拒绝"})
    full = await _text(tenant, "GET", "/v1/dnc/export", "supervisor")
    masked = await _text(tenant, "GET", "/v1/dnc/export", "auditor")
    assert f"{e164(number)},marketing,supervisor,客户 {number} 拒绝," in full
    shown = mask_number(e164(number))
    assert f"{shown},marketing,supervisor,客户 {shown} 拒绝," in masked
    assert number not in masked
    assert len(list(csv.reader(io.StringIO(masked)))) == len(list(csv.reader(io.StringIO(full))))


async def test_a_history_the_auditor_asks_for_by_full_number_shows_masks(tenant: Tenant) -> None:
    number = mobile()
    status, missing = await tenant.call("GET", f"/v1/dnc/{number}", "auditor")
    assert status == 404
    assert number not in missing["error"]["message"]
    assert mask_number(e164(number)) in missing["error"]["message"]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r"})
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r", "scope": "all"})
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "auditor")
    assert history["number"] == mask_number(e164(number))
    assert [e["number"] for e in history["entries"]] == [history["number"]] * 2
    assert (await tenant.ok("GET", f"/v1/dnc/{number}"))["number"] == e164(number)


async def test_the_audit_log_is_masked_on_output_and_its_chain_still_verifies(
    tenant: Tenant, db: Any
) -> None:
    number = mobile()
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "asked"})
    await tenant.ok("DELETE", f"/v1/dnc/{number}", json={"reason": f"{number} was listed twice"})
    await tenant.ok(
        "POST",
        "/v1/precheck/simulate",
        "auditor",
        json={**tenant.marketing(number), "at": "2026-11-24T10:00:00+08:00"},
    )
    query = f"/v1/audit?entity_id={quote(e164(number))}"
    full = await tenant.ok("GET", query)
    masked = await tenant.ok("GET", query, "auditor")
    shown = mask_number(e164(number))
    assert [e["action"] for e in masked["items"]] == ["unlist", "list"]
    assert {e["entity_id"] for e in masked["items"]} == {shown}
    unlist, listed = masked["items"]
    assert listed["after"]["number"] == shown
    assert unlist["before"]["number"] == shown
    assert unlist["reason"] == f"{shown} was listed twice"
    # The hash chain is untouched: the same hashes as the supervisor's, and it verifies.
    assert [(e["hash"], e["prev_hash"]) for e in masked["items"]] == [
        (e["hash"], e["prev_hash"]) for e in full["items"]
    ]
    assert full["items"][0]["entity_id"] == e164(number)
    simulations = await tenant.ok("GET", "/v1/audit?entity=precheck&limit=1", "auditor")
    assert simulations["items"][0]["after"]["request"]["callee"] == shown
    report = await audit.verify(db)
    assert report.broken_at is None


async def test_registered_caller_ids_are_shown_in_full_and_other_numbers_are_not(
    tenant: Tenant,
) -> None:
    caller_ids = await tenant.ok("GET", "/v1/caller-ids", "auditor")
    assert CALLER_E164 in [c["number"] for c in caller_ids["items"]]
    stranger = mobile()
    answer = await tenant.ok(
        "POST",
        "/v1/precheck/simulate",
        "auditor",
        json={
            **tenant.marketing(tenant.listed[0], caller_id=stranger),
            "at": "2026-11-24T10:00:00+08:00",
        },
    )
    assert stranger not in str(answer)
    staff = mobile()
    await tenant.ok("POST", "/v1/staff-numbers", json={"number": staff})
    listed = await tenant.ok("GET", "/v1/staff-numbers", "auditor")
    assert mask_number(e164(staff)) in [s["number"] for s in listed["items"]]
    assert e164(staff) not in str(listed)


@pytest.mark.parametrize("role", ["supervisor", "admin"])
async def test_supervisors_and_admins_read_numbers_in_full(tenant: Tenant, role: str) -> None:
    number = tenant.listed[1]
    call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
    detail = await tenant.ok("GET", f"/v1/calls/{call}", role)
    assert (detail["callee"], detail["request"]["callee"]) == (e164(number), number)
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r"})
    assert e164(number) in await _text(tenant, "GET", "/v1/dnc/export", role)
    assert (await tenant.ok("GET", f"/v1/dnc/{number}", role))["number"] == e164(number)
