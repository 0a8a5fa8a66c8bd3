"""Registering and changing caller ids: only a valid, published number that is not a
mobile may be an active dedicated telemarketing number."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import PUBLISHED_AT, Tenant, codes, e164
from tests.support.registries import caller_body, caller_number, refused

pytestmark = pytest.mark.asyncio


async def test_registering_a_caller_id_answers_201_with_it(sup: Tenant) -> None:
    number = caller_number()
    status, body = await sup.call(
        "POST",
        "/v1/caller-ids",
        json=caller_body(number, ["service", "marketing", "marketing"]),
    )
    assert status == 201, body
    assert body["number"] == e164(number)
    assert body["purposes"] == ["marketing", "service"]
    assert body["provinces"] is None
    assert body["published_at"] == "2025-06-01T00:00:00+08:00"
    assert body["active"] is True
    listed = await sup.ok("GET", "/v1/caller-ids", "auditor")
    assert [c for c in listed["items"] if c["number"] == e164(number)] == [body]


async def test_patching_a_caller_id_answers_200_with_the_new_state(sup: Tenant) -> None:
    number = caller_number()
    await sup.ok("POST", "/v1/caller-ids", json=caller_body(number, ["marketing"]))
    status, body = await sup.call(
        "PATCH",
        f"/v1/caller-ids/{number}",
        json={
            "provinces": ["江苏省", "北京市", "江苏省"],
            "active": False,
            "published_at": "2026-11-01T09:00:00+08:00",
        },
    )
    assert status == 200, body
    assert body["provinces"] == sorted(["北京市", "江苏省"])
    assert body["active"] is False
    assert body["published_at"] == "2026-11-01T09:00:00+08:00"
    assert body["purposes"] == ["marketing"]
    # Addressed by its E.164 form too; provinces null means every province again.
    status, body = await sup.call(
        "PATCH", f"/v1/caller-ids/%2B86{number}", json={"provinces": None}
    )
    assert status == 200, body
    assert body["provinces"] is None
    assert body["active"] is False


async def test_patching_an_unknown_caller_id_is_404(sup: Tenant) -> None:
    answer = await sup.call("PATCH", f"/v1/caller-ids/{caller_number()}", json={"active": False})
    refused(answer, 404, "not_found")
    refused(await sup.call("PATCH", "/v1/caller-ids/nonsense", json={}), 404, "not_found")


async def test_caller_id_provinces_must_be_full_names(sup: Tenant) -> None:
    number = caller_number()
    answer = await sup.call(
        "POST",
        "/v1/caller-ids",
        json=caller_body(number, ["marketing"], provinces=["北京"]),
    )
    refused(answer, 400, "invalid_request", "provinces")
    await sup.ok("POST", "/v1/caller-ids", json=caller_body(number, ["marketing"]))
    answer = await sup.call("PATCH", f"/v1/caller-ids/{number}", json={"provinces": ["Atlantis"]})
    refused(answer, 400, "invalid_request", "provinces")


async def test_a_caller_id_must_be_a_telephone_number(sup: Tenant) -> None:
    answer = await sup.call(
        "POST", "/v1/caller-ids", json={"number": "abc", "purposes": ["service"]}
    )
    refused(answer, 400, "invalid_request", "number")


async def test_a_naive_published_at_is_400(sup: Tenant) -> None:
    number = caller_number()
    answer = await sup.call(
        "POST",
        "/v1/caller-ids",
        json=caller_body(number, ["marketing"], published_at="2026-11-01T09:00:00"),
    )
    refused(answer, 400, "invalid_request", "published_at")
    await sup.ok("POST", "/v1/caller-ids", json=caller_body(number, ["marketing"]))
    answer = await sup.call(
        "PATCH", f"/v1/caller-ids/{number}", json={"published_at": "2026-11-01T09:00:00"}
    )
    refused(answer, 400, "invalid_request", "published_at")


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("13812345678", "mobile"),
        ("+86 138 1234 5678", "mobile"),
        ("0086-17012345678", "mobile"),
        ("1381234567", "not a valid number"),
        ("12345678901", "not a valid number"),
        ("1234", "not a valid number"),
        ("+8695519", "not a valid number"),
        ("+1 415 555 0123", "mainland China"),
        ("400800123", "not a valid number"),
    ],
)
async def test_a_mobile_or_a_number_that_is_not_valid_is_no_caller_id(
    sup: Tenant, number: str, why: str
) -> None:
    answer = await sup.call("POST", "/v1/caller-ids", json=caller_body(number, ["marketing"]))
    message = refused(answer, 400, "invalid_request", "number")
    assert why in message
    # Not as one of a campaign's caller ids either.
    answer = await sup.call(
        "POST",
        "/v1/campaigns",
        json={
            "campaign_id": f"c-{caller_number()}",
            "purpose": "marketing",
            "caller_ids": ["4008001234", number],
        },
    )
    refused(answer, 400, "invalid_request", "caller_ids[1]")


@pytest.mark.parametrize(
    ("number", "stored"),
    [
        ("010-12345678", "+861012345678"),
        ("025 8345 6789", "+862583456789"),
        ("800-800-1234", "+868008001234"),
        ("95519", "95519"),
    ],
)
async def test_landlines_400_800_and_service_numbers_are_caller_ids(
    sup: Tenant, db: Any, number: str, stored: str
) -> None:
    await db.execute("DELETE FROM caller_ids WHERE number = $1", stored)
    body = await sup.ok("POST", "/v1/caller-ids", json=caller_body(number, ["service"]))
    assert body["number"] == stored


async def test_an_active_caller_id_needs_published_at(sup: Tenant) -> None:
    number = caller_number()
    answer = await sup.call(
        "POST", "/v1/caller-ids", json={"number": number, "purposes": ["marketing"]}
    )
    refused(answer, 400, "invalid_request", "published_at")
    answer = await sup.call(
        "POST", "/v1/caller-ids", json=caller_body(number, ["marketing"], published_at=None)
    )
    refused(answer, 400, "invalid_request", "published_at")
    # Registered inactive until it is published, then activated with its date.
    body = await sup.ok(
        "POST",
        "/v1/caller-ids",
        json={"number": number, "purposes": ["marketing"], "active": False},
    )
    assert (body["active"], body["published_at"]) == (False, None)
    answer = await sup.call("PATCH", f"/v1/caller-ids/{number}", json={"active": True})
    refused(answer, 400, "invalid_request", "published_at")
    body = await sup.ok(
        "PATCH", f"/v1/caller-ids/{number}", json={"active": True, "published_at": PUBLISHED_AT}
    )
    assert body["active"] is True
    # An active number's date cannot be taken away.
    answer = await sup.call("PATCH", f"/v1/caller-ids/{number}", json={"published_at": None})
    refused(answer, 400, "invalid_request", "published_at")
    body = await sup.ok(
        "PATCH", f"/v1/caller-ids/{number}", json={"active": False, "published_at": None}
    )
    assert (body["active"], body["published_at"]) == (False, None)


async def test_a_mobile_registered_before_is_never_presented(tenant: Tenant, db: Any) -> None:
    """A mobile registered before registration refused them (the row written directly)
    is denied at the check, and may only be made inactive."""
    mobile_caller = f"139{caller_number()[3:]}1"
    await db.execute(
        "INSERT INTO caller_ids (number, purposes, published_at, active) "
        "VALUES ($1, $2, now(), true)",
        e164(mobile_caller),
        ["marketing", "appointment", "callback", "service"],
    )
    await tenant.ok("PATCH", f"/v1/campaigns/{tenant.campaign}", json={"caller_ids": []})
    # Registering another caller id reloads them all, the row written directly included.
    await tenant.ok("POST", "/v1/caller-ids", json=caller_body(caller_number(), ["service"]))
    answer = await tenant.precheck(tenant.marketing(caller_id=mobile_caller))
    assert codes(answer) == {"caller_id_not_registered"}
    assert "mobile" in answer["reasons"][0]["message"]
    answer = await tenant.precheck(tenant.callback(tenant.listed[0], caller_id=mobile_caller))
    assert codes(answer) == {"caller_id_not_registered"}
    refused(
        await tenant.call(
            "PATCH", f"/v1/caller-ids/{mobile_caller}", json={"purposes": ["service"]}
        ),
        400,
        "invalid_request",
        "number",
    )
    body = await tenant.ok("PATCH", f"/v1/caller-ids/{mobile_caller}", json={"active": False})
    assert body["active"] is False
