"""Campaigns: their dates and caller ids."""

from __future__ import annotations

import pytest

from tests.integration.tenant import CALLER_ID, Tenant
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
    assert body["starts_at"] == "2025-12-31T16:00:00Z"
    assert body["ends_at"] == "2026-12-31T16:00:00Z"
    assert body["active"] is True
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
    assert body["ends_at"] == "2027-05-31T16:00:00Z"
    assert body["list_ids"] == ["a", "b"]
    assert body["starts_at"] == "2025-12-31T16:00:00Z"
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
    assert (body["starts_at"], body["ends_at"]) == ("2027-05-31T16:00:00Z", None)


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
