"""Scripts: versions, the draft-approved-filed-retired flow, and their wording."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import Tenant, codes
from tests.support.registries import refused, script_body, uid

pytestmark = pytest.mark.asyncio


async def test_a_new_script_answers_201_as_a_draft(sup: Tenant) -> None:
    sid = uid("s")
    status, body = await sup.call("POST", "/v1/scripts", json=script_body(sid))
    assert status == 201, body
    assert body["script_id"] == sid
    assert body["version"] == 1
    assert body["status"] == "draft"
    assert body["filing_ref"] is None
    assert body["discloses_identity"] is True
    listed = await sup.ok("GET", "/v1/scripts", "auditor")
    assert [s["status"] for s in listed["items"] if s["script_id"] == sid] == ["draft"]


async def test_the_same_script_version_twice_is_409_but_a_new_version_is_201(
    sup: Tenant,
) -> None:
    sid = uid("s")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    refused(await sup.call("POST", "/v1/scripts", json=script_body(sid)), 409, "exists", sid)
    status, body = await sup.call("POST", "/v1/scripts", json=script_body(sid, 2))
    assert status == 201, body
    assert body["version"] == 2


async def test_a_script_moves_draft_approved_filed_retired(sup: Tenant) -> None:
    sid = uid("s")
    path = f"/v1/scripts/{sid}/1"
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    status, body = await sup.call("PATCH", path, json={"status": "approved"})
    assert (status, body["status"]) == (200, "approved"), body
    status, body = await sup.call(
        "PATCH", path, json={"status": "filed", "filing_ref": "银保监备-2026-17"}
    )
    assert (status, body["status"], body["filing_ref"]) == (200, "filed", "银保监备-2026-17")
    status, body = await sup.call("PATCH", path, json={"status": "retired"})
    assert (status, body["status"]) == (200, "retired"), body
    assert body["title"] == "intro"


async def test_filed_script_needs_filing_ref(sup: Tenant) -> None:
    sid = uid("s")
    path = f"/v1/scripts/{sid}/1"
    answer = await sup.call("POST", "/v1/scripts", json=script_body(sid, status="filed"))
    refused(answer, 400, "invalid_request", "filing_ref")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid, status="approved"))
    refused(
        await sup.call("PATCH", path, json={"status": "filed"}),
        400,
        "invalid_request",
        "filing_ref",
    )
    answer = await sup.call("PATCH", path, json={"status": "filed", "filing_ref": None})
    refused(answer, 400, "invalid_request", "filing_ref")
    await sup.ok("PATCH", path, json={"status": "filed", "filing_ref": "REF-9"})
    # A filed script cannot lose its reference.
    refused(
        await sup.call("PATCH", path, json={"filing_ref": None}),
        400,
        "invalid_request",
        "filing_ref",
    )
    scripts = await sup.ok("GET", "/v1/scripts")
    assert [(s["status"], s["filing_ref"]) for s in scripts["items"] if s["script_id"] == sid] == [
        ("filed", "REF-9")
    ]


async def test_a_filed_script_may_be_imported_with_its_reference(sup: Tenant) -> None:
    sid = uid("s")
    status, body = await sup.call(
        "POST", "/v1/scripts", json=script_body(sid, status="filed", filing_ref="REF-1")
    )
    assert (status, body["status"], body["filing_ref"]) == (201, "filed", "REF-1"), body


async def test_a_script_cannot_be_created_retired(sup: Tenant) -> None:
    answer = await sup.call("POST", "/v1/scripts", json=script_body(uid("s"), status="retired"))
    refused(answer, 400, "invalid_request", "status")


async def test_a_draft_cannot_skip_to_filed(sup: Tenant) -> None:
    sid = uid("s")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    answer = await sup.call(
        "PATCH", f"/v1/scripts/{sid}/1", json={"status": "filed", "filing_ref": "REF-1"}
    )
    refused(answer, 409, "invalid_state", "status")
    scripts = await sup.ok("GET", "/v1/scripts")
    assert [s["status"] for s in scripts["items"] if s["script_id"] == sid] == ["draft"]


@pytest.mark.parametrize(
    ("reached", "back"),
    [("approved", "draft"), ("filed", "approved"), ("filed", "draft")],
)
async def test_a_script_cannot_go_back(sup: Tenant, reached: str, back: str) -> None:
    sid = uid("s")
    path = f"/v1/scripts/{sid}/1"
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    await sup.ok("PATCH", path, json={"status": "approved"})
    if reached == "filed":
        await sup.ok("PATCH", path, json={"status": "filed", "filing_ref": "REF-1"})
    refused(await sup.call("PATCH", path, json={"status": back}), 409, "invalid_state", "status")


@pytest.mark.parametrize("back", ["draft", "approved", "filed"])
async def test_a_retired_script_cannot_come_back(sup: Tenant, back: str) -> None:
    sid = uid("s")
    path = f"/v1/scripts/{sid}/1"
    await sup.ok("POST", "/v1/scripts", json=script_body(sid, status="filed", filing_ref="R"))
    await sup.ok("PATCH", path, json={"status": "retired"})
    answer = await sup.call("PATCH", path, json={"status": back, "filing_ref": "R2"})
    refused(answer, 409, "invalid_state", "status")


@pytest.mark.parametrize("start", ["draft", "approved"])
async def test_a_script_not_yet_filed_can_be_withdrawn(sup: Tenant, start: str) -> None:
    sid = uid("s")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid, status=start))
    body = await sup.ok("PATCH", f"/v1/scripts/{sid}/1", json={"status": "retired"})
    assert body["status"] == "retired"


async def test_a_drafts_wording_can_change(sup: Tenant) -> None:
    sid = uid("s")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    body = await sup.ok(
        "PATCH",
        f"/v1/scripts/{sid}/1",
        json={"title": "new intro", "text": "新的开场白", "discloses_identity": False},
    )
    assert (body["title"], body["text"], body["discloses_identity"]) == (
        "new intro",
        "新的开场白",
        False,
    )


@pytest.mark.parametrize("status", ["approved", "filed", "retired"])
@pytest.mark.parametrize(
    "wording", [{"title": "other"}, {"text": "另一段话"}, {"discloses_identity": False}]
)
async def test_wording_of_a_non_draft_cannot_change(
    sup: Tenant, status: str, wording: dict[str, Any]
) -> None:
    sid = uid("s")
    path = f"/v1/scripts/{sid}/1"
    await sup.ok("POST", "/v1/scripts", json=script_body(sid, status="filed", filing_ref="R"))
    if status != "filed":
        await sup.ok("POST", "/v1/scripts", json=script_body(sid, 2, status="approved"))
        path = f"/v1/scripts/{sid}/2"
        if status == "retired":
            await sup.ok("PATCH", path, json={"status": "retired"})
    (field,) = wording
    refused(await sup.call("PATCH", path, json=wording), 409, "invalid_state", field)
    scripts = await sup.ok("GET", "/v1/scripts")
    (stored,) = [s for s in scripts["items"] if s["script_id"] == sid and s["status"] == status]
    assert (stored["title"], stored["text"], stored["discloses_identity"]) == (
        "intro",
        "您好，我是某某保险的……",
        True,
    )


async def test_patching_an_unknown_script_is_404(sup: Tenant) -> None:
    sid = uid("s")
    refused(
        await sup.call("PATCH", f"/v1/scripts/{sid}/1", json={"status": "approved"}),
        404,
        "not_found",
    )
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    refused(
        await sup.call("PATCH", f"/v1/scripts/{sid}/2", json={"status": "approved"}),
        404,
        "not_found",
    )


@pytest.mark.parametrize("version", ["abc", "0", "-1", "1.5", "99999999999", "٣", "9" * 5000])
async def test_the_script_version_in_the_path_is_a_positive_integer(
    sup: Tenant, version: str
) -> None:
    answer = await sup.call("PATCH", f"/v1/scripts/{uid('s')}/{version}", json={})
    refused(answer, 400, "invalid_request", "version")


async def test_only_a_filed_script_version_passes_the_check(tenant: Tenant) -> None:
    path = f"/v1/scripts/{tenant.script}/2"
    await tenant.ok("POST", "/v1/scripts", json=script_body(tenant.script, 2))
    callees = iter(tenant.listed)

    async def check() -> set[str]:
        return codes(await tenant.precheck(tenant.marketing(next(callees), script_version=2)))

    assert await check() == {"script_not_approved"}
    await tenant.ok("PATCH", path, json={"status": "approved"})
    assert await check() == {"script_not_approved"}
    await tenant.ok("PATCH", path, json={"status": "filed", "filing_ref": "REF-2"})
    assert await check() == set()
    await tenant.ok("PATCH", path, json={"status": "retired"})
    assert await check() == {"script_not_approved"}
