"""Batch scrubs: synchronous and as background jobs; nothing counted."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import pytest

from gateway.services import scrubbing as scrub_module
from tests.integration.tenant import OPEN_POLICY, Tenant, e164, mobile
from tests.support.headers import bearer


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=6)


async def test_scrub_applies_number_staff_dnc_and_list_rules(tenant: Tenant) -> None:
    on_list, listed_dnc, staff, stranger = [*tenant.listed[:3], mobile()]
    await tenant.ok("PUT", f"/v1/dnc/{listed_dnc}", json={"reason": "refused"})
    await tenant.ok("POST", "/v1/staff-numbers", json={"number": staff})
    body = {
        "campaign_id": tenant.campaign,
        "purpose": "marketing",
        "numbers": [on_list, listed_dnc, staff, stranger, "12345", f"+86 {on_list}"],
    }
    answer = await tenant.ok("POST", "/v1/scrub", "dialer", json=body)
    results = answer["results"]
    assert [r["input"] for r in results] == body["numbers"]
    assert [r["callable"] for r in results] == [True, False, False, False, False, True]
    assert [sorted(x["code"] for x in r["reasons"]) for r in results] == [
        [],
        ["dnc_listed"],
        ["staff_number"],
        ["not_in_approved_list"],
        ["invalid_number"],
        [],
    ]
    assert results[5]["callee_e164"] == e164(on_list)
    assert results[4]["callee_e164"] is None


async def test_scrub_counts_no_attempt(tenant: Tenant) -> None:
    number = tenant.listed[3]
    for _ in range(5):
        await tenant.ok(
            "POST",
            "/v1/scrub",
            "dialer",
            json={"campaign_id": tenant.campaign, "purpose": "marketing", "numbers": [number]},
        )
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"


async def test_callback_scrub_ignores_marketing_entries(tenant: Tenant) -> None:
    marketing_only, everything = mobile(), mobile()
    await tenant.ok("PUT", f"/v1/dnc/{marketing_only}", json={"reason": "r"})
    await tenant.ok("PUT", f"/v1/dnc/{everything}", json={"reason": "r", "scope": "all"})
    answer = await tenant.ok(
        "POST",
        "/v1/scrub",
        "supervisor",
        json={"purpose": "callback", "numbers": [marketing_only, everything]},
    )
    assert [r["callable"] for r in answer["results"]] == [True, False]


async def test_scrub_limits(tenant: Tenant) -> None:
    status, body = await tenant.call(
        "POST",
        "/v1/scrub",
        "dialer",
        json={
            "campaign_id": tenant.campaign,
            "purpose": "marketing",
            "numbers": ["13800000000"] * 10_001,
        },
    )
    assert status == 400
    assert "numbers" in body["error"]["message"]
    status, body = await tenant.call(
        "POST", "/v1/scrub", "dialer", json={"purpose": "marketing", "numbers": []}
    )
    assert status == 400
    assert "campaign_id" in body["error"]["message"]
    status, _ = await tenant.call("POST", "/v1/scrub", "auditor", json={})
    assert status == 403


async def run_job(tenant: Tenant, query: str, body: str) -> dict[str, Any]:
    """Submit a scrub job as a dialer and wait until it is done; its final state."""
    status, created = await tenant.call(
        "POST",
        f"/v1/scrub-jobs?{query}",
        "dialer",
        data=body.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert status == 202
    for _ in range(100):
        state: dict[str, Any] = await tenant.ok(
            "GET", f"/v1/scrub-jobs/{created['job_id']}", "dialer"
        )
        if state["state"] == "done":
            break
        await asyncio.sleep(0.05)
    assert state["state"] == "done"
    return state


async def test_scrub_job_runs_in_the_background_and_serves_a_csv(
    tenant: Tenant, make_client: Any, settings: Any, clock: Any
) -> None:
    listed_dnc = tenant.listed[4]
    await tenant.ok("PUT", f"/v1/dnc/{listed_dnc}", json={"reason": "refused"})
    numbers = [tenant.listed[0], listed_dnc, "bad", mobile()]
    csv = "number\n" + "\n".join(numbers) + "\n"
    state = await run_job(tenant, f"campaign_id={tenant.campaign}&purpose=marketing", csv)
    job = state["job_id"]
    assert state["processed"] == state["total"] == 4
    # Another process serves the result.
    other = await make_client(settings, clock)
    resp = await other.get(
        f"/v1/scrub-jobs/{job}/result", headers=bearer(tenant.tokens["supervisor"])
    )
    assert resp.status == 200
    lines = (await resp.text()).splitlines()
    assert lines[0] == "input,callee_e164,callable,reasons"
    assert lines[1] == f"{tenant.listed[0]},{e164(tenant.listed[0])},true,"
    assert lines[2].endswith(",false,dnc_listed")
    assert lines[3] == "bad,,false,invalid_number"
    assert lines[4].endswith(",false,not_in_approved_list")


async def test_a_large_scrub_job_keeps_every_line_in_order_across_chunks(
    tenant: Tenant, monkeypatch: Any
) -> None:
    monkeypatch.setattr(scrub_module, "JOB_CHUNK", 7)  # many chunks, stored while scrubbing
    numbers = [mobile() for _ in range(40)]
    numbers[5], numbers[23] = 'odd"quote', "\u7535\u8bdd"  # quoted, and not ASCII
    body = "callee\n" + "\n".join(numbers) + "\n"
    state = await run_job(tenant, "purpose=service", body)
    job = state["job_id"]
    assert state["processed"] == state["total"] == 40
    resp = await tenant.client.get(
        f"/v1/scrub-jobs/{job}/result", headers=bearer(tenant.tokens["dialer"])
    )
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0] == ["input", "callee_e164", "callable", "reasons"]
    assert [r[0] for r in rows[1:]] == numbers
    expected = [
        [n, "", "false", "invalid_number"] if i in (5, 23) else [n, e164(n), "true", ""]
        for i, n in enumerate(numbers)
    ]
    assert rows[1:] == expected


async def test_unknown_scrub_job_is_404(tenant: Tenant) -> None:
    for path in (
        "/v1/scrub-jobs/nope",
        "/v1/scrub-jobs/00000000-0000-0000-0000-000000000000",
        "/v1/scrub-jobs/00000000-0000-0000-0000-000000000000/result",
    ):
        status, body = await tenant.call("GET", path, "dialer")
        assert status == 404
        assert body["error"]["code"] == "not_found"
