"""Registering and changing caller ids."""

from __future__ import annotations

import pytest

from tests.integration.tenant import Tenant, e164
from tests.support.registries import caller_number, refused

pytestmark = pytest.mark.asyncio


async def test_registering_a_caller_id_answers_201_with_it(sup: Tenant) -> None:
    number = caller_number()
    status, body = await sup.call(
        "POST",
        "/v1/caller-ids",
        json={"number": number, "purposes": ["service", "marketing", "marketing"]},
    )
    assert status == 201, body
    assert body["number"] == e164(number)
    assert body["purposes"] == ["marketing", "service"]
    assert body["provinces"] is None
    assert body["published_at"] is None
    assert body["active"] is True
    listed = await sup.ok("GET", "/v1/caller-ids", "auditor")
    assert [c for c in listed["items"] if c["number"] == e164(number)] == [body]


async def test_patching_a_caller_id_answers_200_with_the_new_state(sup: Tenant) -> None:
    number = caller_number()
    await sup.ok("POST", "/v1/caller-ids", json={"number": number, "purposes": ["marketing"]})
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
    assert body["published_at"] == "2026-11-01T01:00:00Z"
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
        json={"number": number, "purposes": ["marketing"], "provinces": ["北京"]},
    )
    refused(answer, 400, "invalid_request", "provinces")
    await sup.ok("POST", "/v1/caller-ids", json={"number": number, "purposes": ["marketing"]})
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
        json={"number": number, "purposes": ["marketing"], "published_at": "2026-11-01T09:00:00"},
    )
    refused(answer, 400, "invalid_request", "published_at")
    await sup.ok("POST", "/v1/caller-ids", json={"number": number, "purposes": ["marketing"]})
    answer = await sup.call(
        "PATCH", f"/v1/caller-ids/{number}", json={"published_at": "2026-11-01T09:00:00"}
    )
    refused(answer, 400, "invalid_request", "published_at")
