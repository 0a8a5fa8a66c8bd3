"""Campaigns: their dates, caller ids and the type of product they sell."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import CALLER_ID, OPEN_POLICY, Tenant, codes
from tests.support.registries import campaign_body, refused, uid

pytestmark = pytest.mark.asyncio


async def test_adding_a_campaign_answers_201_with_it(sup: Tenant) -> None:
    cid = uid("c")
    status, body = await sup.call(
        "POST",
        "/v1/campaigns",
        json=campaign_body(
            cid,
            script_ids=["s2", "s1", "s2"],
            caller_ids=[CALLER_ID, "400-800-1234"],
            list_ids=["l1"],
        ),
    )
    assert status == 201, body
    assert body["campaign_id"] == cid
    assert body["purpose"] == "marketing"
    assert body["script_ids"] == ["s1", "s2"]
    assert body["caller_ids"] == ["+864008001234"]
    assert body["list_ids"] == ["l1"]
    assert body["starts_at"] == "2026-01-01T00:00:00+08:00"
    assert body["ends_at"] == "2027-01-01T00:00:00+08:00"
    assert body["active"] is True
    assert body["product_type"] == "ordinary"
    listed = await sup.ok("GET", "/v1/campaigns", "auditor")
    assert [c["purpose"] for c in listed["items"] if c["campaign_id"] == cid] == ["marketing"]


async def test_patching_a_campaign_answers_200_with_the_new_state(sup: Tenant) -> None:
    cid = uid("c")
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    status, body = await sup.call(
        "PATCH",
        f"/v1/campaigns/{cid}",
        json={"active": False, "ends_at": "2027-06-01T00:00:00+08:00", "list_ids": ["b", "a"]},
    )
    assert status == 200, body
    assert body["active"] is False
    assert body["ends_at"] == "2027-06-01T00:00:00+08:00"
    assert body["list_ids"] == ["a", "b"]
    assert body["starts_at"] == "2026-01-01T00:00:00+08:00"
    body = await sup.ok("PATCH", f"/v1/campaigns/{cid}", json={"ends_at": None})
    assert body["ends_at"] is None


async def test_patching_an_unknown_campaign_is_404(sup: Tenant) -> None:
    answer = await sup.call("PATCH", f"/v1/campaigns/{uid('c')}", json={"active": False})
    refused(answer, 404, "not_found")


@pytest.mark.parametrize(
    "ends_at", ["2025-12-31T00:00:00+08:00", "2026-01-01T00:00:00+08:00", "2025-12-31T16:00:00Z"]
)
async def test_a_campaign_cannot_end_before_it_starts(sup: Tenant, ends_at: str) -> None:
    answer = await sup.call("POST", "/v1/campaigns", json=campaign_body(uid("c"), ends_at=ends_at))
    refused(answer, 400, "invalid_request", "ends_at")


async def test_a_campaign_patch_cannot_end_it_before_it_starts(sup: Tenant) -> None:
    cid = uid("c")
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    answer = await sup.call(
        "PATCH", f"/v1/campaigns/{cid}", json={"ends_at": "2025-06-01T00:00:00+08:00"}
    )
    refused(answer, 400, "invalid_request", "ends_at")
    answer = await sup.call(
        "PATCH", f"/v1/campaigns/{cid}", json={"starts_at": "2027-06-01T00:00:00+08:00"}
    )
    refused(answer, 400, "invalid_request", "ends_at")
    body = await sup.ok(
        "PATCH",
        f"/v1/campaigns/{cid}",
        json={"starts_at": "2027-06-01T00:00:00+08:00", "ends_at": None},
    )
    assert (body["starts_at"], body["ends_at"]) == ("2027-06-01T00:00:00+08:00", None)


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
async def test_a_naive_campaign_time_is_400(sup: Tenant, field: str) -> None:
    cid = uid("c")
    naive = "2026-06-01T00:00:00"
    answer = await sup.call("POST", "/v1/campaigns", json=campaign_body(cid, **{field: naive}))
    refused(answer, 400, "invalid_request", field)
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    answer = await sup.call("PATCH", f"/v1/campaigns/{cid}", json={field: naive})
    refused(answer, 400, "invalid_request", field)


async def test_a_campaigns_caller_ids_must_be_numbers(sup: Tenant) -> None:
    cid = uid("c")
    answer = await sup.call(
        "POST", "/v1/campaigns", json=campaign_body(cid, caller_ids=[CALLER_ID, "call us"])
    )
    refused(answer, 400, "invalid_request", "caller_ids[1]")
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    answer = await sup.call("PATCH", f"/v1/campaigns/{cid}", json={"caller_ids": ["--"]})
    refused(answer, 400, "invalid_request", "caller_ids[0]")


async def test_a_campaign_names_the_type_of_product_it_sells(sup: Tenant) -> None:
    cid = uid("c")
    body = await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid, product_type="universal"))
    assert body["product_type"] == "universal"
    body = await sup.ok("PATCH", f"/v1/campaigns/{cid}", json={"product_type": "unit_linked"})
    assert body["product_type"] == "unit_linked"


@pytest.mark.parametrize("product_type", ["annuity", "Ordinary", "", None, 3])
async def test_an_unknown_product_type_is_400_naming_it(sup: Tenant, product_type: Any) -> None:
    cid = uid("c")
    answer = await sup.call(
        "POST", "/v1/campaigns", json=campaign_body(cid, product_type=product_type)
    )
    refused(answer, 400, "invalid_request", "product_type")
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    answer = await sup.call("PATCH", f"/v1/campaigns/{cid}", json={"product_type": product_type})
    refused(answer, 400, "invalid_request", "product_type")


async def test_telephone_sales_offer_only_the_product_types_the_policy_allows(
    tenant: Tenant,
) -> None:
    appointment = tenant.appointment(tenant.customers[0])
    for purpose_campaign in (tenant.campaign, appointment["campaign_id"]):
        await tenant.ok(
            "PATCH", f"/v1/campaigns/{purpose_campaign}", json={"product_type": "participating"}
        )
    marketing = await tenant.precheck(tenant.marketing())
    assert codes(marketing) == {"product_not_allowed"}
    [reason] = marketing["reasons"]
    assert reason["rule"] == "campaign"
    assert "participating" in reason["message"]
    assert codes(await tenant.precheck(appointment)) == {"product_not_allowed"}
    # Call review finds them by their reason.
    found = await tenant.ok(
        "GET", f"/v1/calls?campaign_id={tenant.campaign}&reason=product_not_allowed", "auditor"
    )
    assert [c["call_id"] for c in found["items"]] == [marketing["call_id"]]
    # A company that meets the conditions allows participating products.
    policy = {**OPEN_POLICY, "telesales_product_types": ["ordinary", "participating"]}
    try:
        body = await tenant.ok("PUT", "/v1/policy", "admin", json=policy)
        assert body["telesales_product_types"] == ["ordinary", "participating"]
        assert (await tenant.precheck(tenant.marketing()))["decision"] == "allow"
        assert (await tenant.precheck(appointment))["decision"] == "allow"
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    assert codes(await tenant.precheck(tenant.marketing(tenant.listed[1]))) == {
        "product_not_allowed"
    }


@pytest.mark.parametrize(
    ("types", "field"),
    [
        ([], "telesales_product_types"),
        (["ordinary", "ordinary"], "telesales_product_types"),
        (["ordinary", "annuity"], "telesales_product_types[1]"),
        ("ordinary", "telesales_product_types"),
    ],
)
async def test_a_bad_list_of_product_types_is_400_naming_it(
    sup: Tenant, types: Any, field: str
) -> None:
    before = await sup.ok("GET", "/v1/policy")
    answer = await sup.call(
        "PUT", "/v1/policy", "admin", json={**OPEN_POLICY, "telesales_product_types": types}
    )
    refused(answer, 400, "invalid_request", field)
    assert await sup.ok("GET", "/v1/policy") == before
