"""Staff numbers, which are never called."""

from __future__ import annotations

import pytest

from tests.integration.tenant import Tenant, codes, e164, mobile
from tests.support.registries import refused

pytestmark = pytest.mark.asyncio


async def test_a_staff_number_is_added_and_removed(sup: Tenant) -> None:
    n = mobile()
    status, body = await sup.call(
        "POST", "/v1/staff-numbers", json={"number": f"+86 {n}", "note": "分支机构"}
    )
    assert status == 201, body
    assert (body["number"], body["note"], body["created_by"]) == (
        e164(n),
        "分支机构",
        "test-supervisor",
    )
    listed = await sup.ok("GET", "/v1/staff-numbers")
    assert [s["number"] for s in listed["items"] if s["number"] == e164(n)] == [e164(n)]
    # Employees' numbers are personal data: an auditor reads them masked.
    listed = await sup.ok("GET", "/v1/staff-numbers", "auditor")
    assert f"{n[:3]}****{n[-4:]}" in {s["number"] for s in listed["items"]}
    assert e164(n) not in {s["number"] for s in listed["items"]}
    status, body = await sup.call("DELETE", f"/v1/staff-numbers/{n}")
    assert (status, body["number"]) == (200, e164(n)), body
    listed = await sup.ok("GET", "/v1/staff-numbers")
    assert e164(n) not in {s["number"] for s in listed["items"]}
    refused(await sup.call("DELETE", f"/v1/staff-numbers/{n}"), 404, "not_found")


async def test_a_staff_number_must_be_a_valid_number(sup: Tenant) -> None:
    answer = await sup.call("POST", "/v1/staff-numbers", json={"number": "1381234567"})
    refused(answer, 400, "invalid_request", "number")
    refused(await sup.call("DELETE", "/v1/staff-numbers/abc"), 400, "invalid_request", "number")


async def test_a_removed_staff_number_may_be_called_again(tenant: Tenant) -> None:
    n = tenant.listed[0]
    await tenant.ok("POST", "/v1/staff-numbers", json={"number": n})
    assert codes(await tenant.precheck(tenant.marketing(n))) == {"staff_number"}
    await tenant.ok("DELETE", f"/v1/staff-numbers/{e164(n)}")
    assert (await tenant.precheck(tenant.marketing(n)))["decision"] == "allow"
