"""The supervisor registries and the admin's policy over HTTP, against real PostgreSQL and
Redis: status codes, validation, the script flow, lists, the calendar, audit entries, and
changes reaching every process."""

from __future__ import annotations

import asyncio
import random
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from gateway.store.audit import verify
from tests.integration.tenant import CALLER_ID, OPEN_POLICY, Tenant, codes, e164, mobile
from tests.support.clock import Clock
from tests.support.headers import bearer

pytestmark = pytest.mark.asyncio

FAR = "2030-12-31"
NOW = "2026-11-23T10:00:00+08:00"  # the clock fixture's moment


def uid(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def caller_number() -> str:
    """A random 400 number, which is valid as a caller id."""
    return f"400{random.randint(0, 9_999_999):07d}"


def landline(area: str) -> str:
    return f"{area}-6{random.randint(0, 9_999_999):07d}"


def landline_e164(number: str) -> str:
    return "+86" + number.replace("-", "")[1:]


def script_body(script_id: str, version: int = 1, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "script_id": script_id,
        "version": version,
        "title": "intro",
        "text": "您好，我是某某保险的……",
    }
    body.update(changes)
    return body


def agent_body(agent_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agent_id": agent_id,
        "name": "张伟",
        "licence_no": "L-2026-001",
        "licence_valid_until": FAR,
        "training_valid_until": FAR,
        "purposes": ["marketing"],
    }
    body.update(changes)
    return body


def campaign_body(campaign_id: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaign_id": campaign_id,
        "purpose": "marketing",
        "starts_at": "2026-01-01T00:00:00+08:00",
        "ends_at": "2027-01-01T00:00:00+08:00",
    }
    body.update(changes)
    return body


def refused(answer: tuple[int, Any], status: int, code: str, field: str | None = None) -> str:
    """Assert an error answer in the contract's envelope; returns its message."""
    got, body = answer
    assert got == status, body
    assert set(body) == {"error"}, body
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    if field is not None:
        assert field in message, message
    return message


async def send(
    t: Tenant,
    method: str,
    path: str,
    data: bytes,
    content_type: str = "application/json",
    role: str = "supervisor",
) -> tuple[int, Any]:
    resp = await t.client.request(
        method,
        path,
        data=data,
        headers={**bearer(t.tokens[role]), "Content-Type": content_type},
    )
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body


async def audit_entries(db: Any, entity: str, entity_id: str) -> list[Any]:
    return list(
        await db.fetch(
            "SELECT * FROM audit_log WHERE entity = $1 AND entity_id = $2 ORDER BY seq",
            entity,
            entity_id,
        )
    )


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 1.0) -> float:
    """Poll until `check` holds; fail when it does not within `within` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        if await check():
            return loop.time() - started
        if loop.time() - started > within:
            raise AssertionError(f"not seen within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
def sup(client: Any, tokens: dict[str, str]) -> Tenant:
    """A supervisor's session with nothing built."""
    return Tenant(client, tokens)


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=12)


# --- caller ids ---------------------------------------------------------------------------


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


async def test_a_caller_id_registered_twice_is_409_exists(sup: Tenant) -> None:
    number = caller_number()
    await sup.ok("POST", "/v1/caller-ids", json={"number": number, "purposes": ["marketing"]})
    written_otherwise = f"+86 {number[:3]}-{number[3:6]}-{number[6:]}"
    answer = await sup.call(
        "POST", "/v1/caller-ids", json={"number": written_otherwise, "purposes": ["service"]}
    )
    refused(answer, 409, "exists", e164(number))


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


# --- scripts ------------------------------------------------------------------------------


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


# --- agents and their customer registers ---------------------------------------------------


async def test_adding_an_agent_answers_201_with_it(sup: Tenant) -> None:
    aid = uid("A")
    status, body = await sup.call(
        "POST", "/v1/agents", json=agent_body(aid, purposes=["service", "callback", "service"])
    )
    assert status == 201, body
    assert body["agent_id"] == aid
    assert body["licence_valid_until"] == FAR
    assert body["training_valid_until"] == FAR
    assert body["purposes"] == ["callback", "service"]
    assert body["active"] is True
    listed = await sup.ok("GET", "/v1/agents", "auditor")
    assert [a["name"] for a in listed["items"] if a["agent_id"] == aid] == ["张伟"]


async def test_an_agent_added_twice_is_409_exists(sup: Tenant) -> None:
    aid = uid("A")
    await sup.ok("POST", "/v1/agents", json=agent_body(aid))
    refused(await sup.call("POST", "/v1/agents", json=agent_body(aid)), 409, "exists", aid)


async def test_patching_an_agent_answers_200_with_the_new_state(sup: Tenant) -> None:
    aid = uid("A")
    await sup.ok("POST", "/v1/agents", json=agent_body(aid))
    status, body = await sup.call(
        "PATCH",
        f"/v1/agents/{aid}",
        json={"training_valid_until": "2027-06-30", "purposes": ["appointment", "marketing"]},
    )
    assert status == 200, body
    assert body["training_valid_until"] == "2027-06-30"
    assert body["licence_valid_until"] == FAR
    assert body["purposes"] == ["appointment", "marketing"]
    body = await sup.ok("PATCH", f"/v1/agents/{aid}", json={"active": False})
    assert body["active"] is False
    assert body["training_valid_until"] == "2027-06-30"


async def test_patching_an_unknown_agent_is_404(sup: Tenant) -> None:
    answer = await sup.call("PATCH", f"/v1/agents/{uid('A')}", json={"active": False})
    refused(answer, 404, "not_found")


@pytest.mark.parametrize("value", ["2030-02-30", "2030-12-31T00:00:00+08:00", "31/12/2030", ""])
async def test_agent_dates_are_plain_dates(sup: Tenant, value: str) -> None:
    answer = await sup.call(
        "POST", "/v1/agents", json=agent_body(uid("A"), licence_valid_until=value)
    )
    refused(answer, 400, "invalid_request", "licence_valid_until")


async def test_an_agents_customer_register_is_replaced_whole(tenant: Tenant, db: Any) -> None:
    path = f"/v1/agents/{tenant.agent}/customers"
    first, second = tenant.customers
    kept = mobile()
    written = [kept, f"+86 {kept[:3]} {kept[3:7]} {kept[7:]}", f"0086-{kept}"]
    body = await tenant.ok("PUT", path, json={"numbers": written})
    assert body == {"agent_id": tenant.agent, "count": 1}
    stored = await db.fetch("SELECT number FROM agent_customers WHERE agent_id = $1", tenant.agent)
    assert [r["number"] for r in stored] == [e164(kept)]
    assert (await tenant.precheck(tenant.appointment(kept)))["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.appointment(first))) == {"cold_call_forbidden"}
    # An empty register leaves the agent no one to call for appointments.
    assert await tenant.ok("PUT", path, json={"numbers": []}) == {
        "agent_id": tenant.agent,
        "count": 0,
    }
    assert codes(await tenant.precheck(tenant.appointment(second))) == {"cold_call_forbidden"}


async def test_a_customer_register_refuses_an_invalid_number(tenant: Tenant, db: Any) -> None:
    path = f"/v1/agents/{tenant.agent}/customers"
    answer = await tenant.call("PUT", path, json={"numbers": [mobile(), "1381234567"]})
    refused(answer, 400, "invalid_request", "numbers[1]")
    # Nothing was replaced.
    stored = await db.fetch("SELECT number FROM agent_customers WHERE agent_id = $1", tenant.agent)
    assert sorted(r["number"] for r in stored) == sorted(e164(n) for n in tenant.customers)


async def test_the_customer_register_of_an_unknown_agent_is_404(sup: Tenant) -> None:
    answer = await sup.call("PUT", f"/v1/agents/{uid('A')}/customers", json={"numbers": []})
    refused(answer, 404, "not_found")


# --- campaigns ----------------------------------------------------------------------------


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


async def test_a_campaign_added_twice_is_409_exists(sup: Tenant) -> None:
    cid = uid("c")
    await sup.ok("POST", "/v1/campaigns", json=campaign_body(cid))
    refused(await sup.call("POST", "/v1/campaigns", json=campaign_body(cid)), 409, "exists", cid)


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


# --- validation common to every route -----------------------------------------------------


def _missing(body: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != field}


MISSING_FIELD = [
    ("POST", "/v1/caller-ids", {"number": CALLER_ID}, "purposes"),
    ("POST", "/v1/caller-ids", {"purposes": ["marketing"]}, "number"),
    ("POST", "/v1/scripts", _missing(script_body("s-missing"), "title"), "title"),
    ("POST", "/v1/scripts", _missing(script_body("s-missing"), "version"), "version"),
    ("POST", "/v1/agents", _missing(agent_body("A-missing"), "licence_no"), "licence_no"),
    (
        "POST",
        "/v1/agents",
        _missing(agent_body("A-missing"), "training_valid_until"),
        "training_valid_until",
    ),
    ("PUT", "/v1/agents/A-missing/customers", {}, "numbers"),
    ("POST", "/v1/campaigns", _missing(campaign_body("c-missing"), "purpose"), "purpose"),
    ("PUT", "/v1/lists/l-missing", {"numbers": []}, "provenance"),
    ("PUT", "/v1/lists/l-missing", {"provenance": "p"}, "numbers"),
    ("POST", "/v1/staff-numbers", {"note": "branch"}, "number"),
    ("PUT", "/v1/holidays/2031-01-02", {"name": "x"}, "kind"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), MISSING_FIELD)
async def test_a_missing_field_is_400_naming_it(
    sup: Tenant, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    refused(await sup.call(method, path, json=body), 400, "invalid_request", field)


WRONG_TYPE = [
    ("POST", "/v1/caller-ids", {"number": 4008001234, "purposes": ["marketing"]}, "number"),
    ("POST", "/v1/caller-ids", {"number": CALLER_ID, "purposes": "marketing"}, "purposes"),
    ("PATCH", "/v1/caller-ids/4008001234", {"active": "no"}, "active"),
    ("POST", "/v1/scripts", script_body("s-type", version="one"), "version"),
    ("POST", "/v1/scripts", script_body("s-type", discloses_identity="yes"), "discloses_identity"),
    ("PATCH", "/v1/scripts/s-type/1", {"title": 7}, "title"),
    ("POST", "/v1/agents", agent_body("A-type", active="yes"), "active"),
    ("PATCH", "/v1/agents/A-type", {"licence_valid_until": 20301231}, "licence_valid_until"),
    ("PUT", "/v1/agents/A-type/customers", {"numbers": [13812345678]}, "numbers[0]"),
    ("PUT", "/v1/agents/A-type/customers", {"numbers": "13812345678"}, "numbers"),
    ("POST", "/v1/campaigns", campaign_body("c-type", script_ids="s1"), "script_ids"),
    ("PATCH", "/v1/campaigns/c-type", {"starts_at": 1767196800}, "starts_at"),
    ("PUT", "/v1/lists/l-type", {"provenance": "p", "numbers": "13812345678"}, "numbers"),
    ("PUT", "/v1/lists/l-type", {"provenance": ["p"], "numbers": []}, "provenance"),
    ("POST", "/v1/staff-numbers", {"number": "13812345678", "note": 5}, "note"),
    ("PUT", "/v1/holidays/2031-01-02", {"kind": 1}, "kind"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), WRONG_TYPE)
async def test_a_wrong_type_is_400_naming_the_field(
    sup: Tenant, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    refused(await sup.call(method, path, json=body), 400, "invalid_request", field)


UNKNOWN_VALUE = [
    ("POST", "/v1/caller-ids", {"number": CALLER_ID, "purposes": ["survey"]}, "purposes[0]"),
    ("PATCH", "/v1/caller-ids/4008001234", {"purposes": ["marketing", "x"]}, "purposes[1]"),
    ("POST", "/v1/caller-ids", {"number": CALLER_ID, "purposes": []}, "purposes"),
    ("POST", "/v1/agents", agent_body("A-value", purposes=["survey"]), "purposes[0]"),
    ("PATCH", "/v1/agents/A-value", {"purposes": ["Marketing"]}, "purposes[0]"),
    ("POST", "/v1/campaigns", campaign_body("c-value", purpose="survey"), "purpose"),
    ("PATCH", "/v1/campaigns/c-value", {"purpose": "sales"}, "purpose"),
    ("POST", "/v1/scripts", script_body("s-value", status="published"), "status"),
    ("PATCH", "/v1/scripts/s-value/1", {"status": "archived"}, "status"),
    ("PUT", "/v1/holidays/2031-01-02", {"kind": "vacation"}, "kind"),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), UNKNOWN_VALUE)
async def test_a_value_outside_its_set_is_400_naming_the_field(
    sup: Tenant, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    refused(await sup.call(method, path, json=body), 400, "invalid_request", field)


UNKNOWN_FIELD = [
    ("POST", "/v1/caller-ids", {"number": CALLER_ID, "purposes": ["marketing"]}),
    ("PATCH", "/v1/caller-ids/4008001234", {}),
    ("POST", "/v1/scripts", script_body("s-extra")),
    ("PATCH", "/v1/scripts/s-extra/1", {}),
    ("POST", "/v1/agents", agent_body("A-extra")),
    ("PATCH", "/v1/agents/A-extra", {}),
    ("PUT", "/v1/agents/A-extra/customers", {"numbers": []}),
    ("POST", "/v1/campaigns", campaign_body("c-extra")),
    ("PATCH", "/v1/campaigns/c-extra", {}),
    ("PUT", "/v1/lists/l-extra", {"provenance": "p", "numbers": []}),
    ("POST", "/v1/staff-numbers", {"number": "13812345678"}),
    ("PUT", "/v1/holidays/2031-01-02", {"kind": "holiday"}),
    ("PUT", "/v1/policy", OPEN_POLICY),
]


@pytest.mark.parametrize(("method", "path", "body"), UNKNOWN_FIELD)
async def test_an_unknown_field_is_400_naming_it(
    sup: Tenant, method: str, path: str, body: dict[str, Any]
) -> None:
    answer = await sup.call(method, path, "admin", json={**body, "colour": "red"})
    refused(answer, 400, "invalid_request", "colour")


async def test_an_unknown_field_deep_in_the_policy_is_400_naming_it(sup: Tenant) -> None:
    policy = {**OPEN_POLICY, "frequency": {**OPEN_POLICY["frequency"], "per_month": 9}}
    answer = await sup.call("PUT", "/v1/policy", "admin", json=policy)
    refused(answer, 400, "invalid_request", "per_month")


NUL = "a\u0000b"
FAR_FUTURE = "9999-12-31T23:59:59-12:00"  # past year 9999 in UTC
FAR_PAST = "0001-01-01T00:00:00+14:00"  # before year 1 in UTC

BAD_INPUT = [
    pytest.param(
        "POST", "/v1/scripts", script_body("s-bad", version=2**40), "version", id="huge-version"
    ),
    pytest.param("POST", "/v1/scripts", script_body("s-bad", title=NUL), "title", id="nul-title"),
    pytest.param("POST", "/v1/scripts", script_body("s-bad", text=NUL), "text", id="nul-text"),
    pytest.param(
        "POST",
        "/v1/scripts",
        script_body("s-bad", status="filed", filing_ref=NUL),
        "filing_ref",
        id="nul-filing-ref",
    ),
    pytest.param("POST", "/v1/scripts", script_body("s-bad\n"), "script_id", id="newline-id"),
    pytest.param("POST", "/v1/scripts", script_body("s bad"), "script_id", id="space-id"),
    pytest.param("POST", "/v1/scripts", script_body("s" * 65), "script_id", id="long-id"),
    pytest.param("PATCH", "/v1/scripts/s-bad/1", {"text": NUL}, "text", id="patch-nul-text"),
    pytest.param("PATCH", "/v1/scripts/s%00bad/1", {}, "script_id", id="nul-path-script"),
    pytest.param("POST", "/v1/agents", agent_body("A-bad", name=NUL), "name", id="nul-name"),
    pytest.param("PATCH", "/v1/agents/A-bad", {"licence_no": NUL}, "licence_no", id="nul-lic"),
    pytest.param("PATCH", "/v1/agents/A%00bad", {}, "agent_id", id="nul-path-agent"),
    pytest.param("PUT", "/v1/agents/A%00bad/customers", {"numbers": []}, "agent_id", id="nul-cust"),
    pytest.param(
        "POST",
        "/v1/caller-ids",
        {"number": "4008001299", "purposes": ["service"], "published_at": FAR_FUTURE},
        "published_at",
        id="far-future-published",
    ),
    pytest.param(
        "POST",
        "/v1/caller-ids",
        {"number": "4008001299", "purposes": ["service"], "published_at": FAR_PAST},
        "published_at",
        id="far-past-published",
    ),
    pytest.param(
        "POST",
        "/v1/campaigns",
        campaign_body("c-bad", ends_at=FAR_FUTURE),
        "ends_at",
        id="far-future-ends",
    ),
    pytest.param(
        "PATCH", "/v1/campaigns/c-bad", {"starts_at": FAR_PAST}, "starts_at", id="far-past-patch"
    ),
    pytest.param("PATCH", "/v1/campaigns/c%00bad", {}, "campaign_id", id="nul-path-campaign"),
    pytest.param(
        "PUT",
        "/v1/lists/l-bad",
        {"provenance": NUL, "numbers": []},
        "provenance",
        id="nul-provenance",
    ),
    pytest.param(
        "PUT", "/v1/lists/l%20bad", {"provenance": "p", "numbers": []}, "list_id", id="list-id"
    ),
    pytest.param(
        "POST", "/v1/staff-numbers", {"number": mobile(), "note": NUL}, "note", id="nul-note"
    ),
    pytest.param(
        "PUT", "/v1/holidays/2031-01-03", {"kind": "holiday", "name": NUL}, "name", id="nul-hol"
    ),
    pytest.param(
        "PUT",
        "/v1/policy",
        {**OPEN_POLICY, "frequency": {"per_day": 0, "per_7_days": 5, "min_gap_minutes": 0}},
        "frequency.per_day",
        id="zero-cap",
    ),
    pytest.param(
        "PUT",
        "/v1/policy",
        {**OPEN_POLICY, "frequency": {"per_day": 2, "per_7_days": 5, "min_gap_minutes": -1}},
        "frequency.min_gap_minutes",
        id="negative-gap",
    ),
    pytest.param(
        "PUT",
        "/v1/policy",
        {**OPEN_POLICY, "province_hours": {NUL: OPEN_POLICY["hours"]}},
        "province_hours",
        id="nul-province",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "field"), BAD_INPUT)
async def test_bad_input_is_400_naming_the_field_never_500(
    sup: Tenant, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    refused(await sup.call(method, path, "admin", json=body), 400, "invalid_request", field)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/caller-ids"),
        ("PATCH", "/v1/caller-ids/4008001234"),
        ("POST", "/v1/scripts"),
        ("PATCH", "/v1/scripts/s-raw/1"),
        ("POST", "/v1/agents"),
        ("PATCH", "/v1/agents/A-raw"),
        ("PUT", "/v1/agents/A-raw/customers"),
        ("POST", "/v1/campaigns"),
        ("PATCH", "/v1/campaigns/c-raw"),
        ("PUT", "/v1/lists/l-raw"),
        ("POST", "/v1/staff-numbers"),
        ("PUT", "/v1/holidays/2031-01-04"),
        ("PUT", "/v1/policy"),
    ],
)
@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b'"text"', b'{"a": ', b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_400(
    sup: Tenant, method: str, path: str, raw: bytes
) -> None:
    refused(await send(sup, method, path, raw, role="admin"), 400, "invalid_request")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/caller-ids", {"number": CALLER_ID, "purposes": ["marketing"]}),
        ("/v1/scripts", script_body("s-auditor")),
        ("/v1/agents", agent_body("A-auditor")),
        ("/v1/campaigns", campaign_body("c-auditor")),
        ("/v1/staff-numbers", {"number": "13812345678"}),
    ],
)
async def test_auditors_read_but_never_change_registries(
    sup: Tenant, path: str, body: dict[str, Any]
) -> None:
    status, listed = await sup.call("GET", path, "auditor")
    assert status == 200 and isinstance(listed["items"], list), listed
    refused(await sup.call("POST", path, "auditor", json=body), 403, "forbidden")


# --- approved call lists ------------------------------------------------------------------


async def list_numbers(db: Any, list_id: str) -> set[str]:
    found = await db.fetch("SELECT number FROM call_list_numbers WHERE list_id = $1", list_id)
    return {r["number"] for r in found}


async def test_a_new_list_is_201_and_a_replaced_one_200(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    numbers = [mobile() for _ in range(3)]
    status, body = await sup.call(
        "PUT", f"/v1/lists/{lid}", json={"provenance": "2026-11 web leads", "numbers": numbers}
    )
    assert status == 201, body
    assert body == {
        "list_id": lid,
        "provenance": "2026-11 web leads",
        "approved_by": "test-supervisor",
        "size": 3,
        "invalid": [],
        "invalid_count": 0,
    }
    status, body = await sup.call(
        "PUT", f"/v1/lists/{lid}", json={"provenance": "re-checked", "numbers": numbers[:1]}
    )
    assert status == 200, body
    assert (body["size"], body["provenance"]) == (1, "re-checked")
    lists = await sup.ok("GET", "/v1/lists", "auditor")
    (stored,) = [x for x in lists["items"] if x["list_id"] == lid]
    assert (stored["size"], stored["provenance"], stored["approved_by"]) == (
        1,
        "re-checked",
        "test-supervisor",
    )
    assert await list_numbers(db, lid) == {e164(numbers[0])}


async def test_a_replaced_list_no_longer_holds_its_old_numbers(tenant: Tenant, db: Any) -> None:
    fresh = [mobile(), mobile()]
    status, body = await tenant.call(
        "PUT", f"/v1/lists/{tenant.list_id}", json={"provenance": "replaced", "numbers": fresh}
    )
    assert (status, body["size"]) == (200, 2), body
    assert await list_numbers(db, tenant.list_id) == {e164(n) for n in fresh}
    old = await tenant.precheck(tenant.marketing(tenant.listed[0]))
    assert codes(old) == {"not_in_approved_list"}
    assert (await tenant.precheck(tenant.marketing(fresh[0])))["decision"] == "allow"


async def test_invalid_numbers_are_reported_by_line_and_left_out(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    good = [mobile(), mobile()]
    numbers = [good[0], "abc", "1381234567", good[1], "95519", "13812345678,13912345678"]
    status, body = await sup.call(
        "PUT", f"/v1/lists/{lid}", json={"provenance": "mixed", "numbers": numbers}
    )
    assert status == 201, body
    assert body["size"] == 2
    assert body["invalid_count"] == 4
    assert [(i["line"], i["value"]) for i in body["invalid"]] == [
        (2, "abc"),
        (3, "1381234567"),
        (5, "95519"),
        (6, "13812345678,13912345678"),
    ]
    assert all(i["error"] for i in body["invalid"])
    assert await list_numbers(db, lid) == {e164(n) for n in good}


async def test_a_long_junk_entry_is_reported_not_refused(sup: Tenant) -> None:
    lid = uid("l")
    junk = "9" * 300
    body = await sup.ok(
        "PUT", f"/v1/lists/{lid}", json={"provenance": "p", "numbers": [junk, mobile()]}
    )
    assert body["size"] == 1
    assert body["invalid_count"] == 1
    assert body["invalid"][0]["line"] == 1
    assert body["invalid"][0]["value"] == junk[:40]


async def test_duplicates_in_a_list_are_counted_once(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    n = mobile()
    written = [n, f"+86 {n[:3]} {n[3:7]} {n[7:]}", f"0086-{n[:3]}-{n[3:7]}-{n[7:]}", n]
    body = await sup.ok("PUT", f"/v1/lists/{lid}", json={"provenance": "dups", "numbers": written})
    assert (body["size"], body["invalid_count"]) == (1, 0)
    assert await list_numbers(db, lid) == {e164(n)}


async def test_a_csv_list_with_a_number_header(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    a, b, c = mobile(), mobile(), mobile()
    csv = (
        "\ufeffnumber,name\r\n"
        f"{a},张三\r\n"
        "\r\n"
        f'"{b}","李四"\r\n'
        "not-a-number,王五\r\n"
        f"{a}\r\n"
        f"+86 {c[:3]} {c[3:7]} {c[7:]}"
    ).encode()
    status, body = await send(
        sup, "PUT", f"/v1/lists/{lid}?provenance=CRM%20export%2011%E6%9C%88", csv, "text/csv"
    )
    assert status == 201, body
    assert body["provenance"] == "CRM export 11月"
    assert body["size"] == 3
    assert body["invalid_count"] == 1
    assert [(i["line"], i["value"]) for i in body["invalid"]] == [(5, "not-a-number")]
    assert await list_numbers(db, lid) == {e164(a), e164(b), e164(c)}
    # The same list again as CSV without a header replaces it: 200.
    status, body = await send(
        sup, "PUT", f"/v1/lists/{lid}?provenance=again", f"{c}\n".encode(), "text/csv"
    )
    assert (status, body["size"]) == (200, 1), body
    assert await list_numbers(db, lid) == {e164(c)}


async def test_a_header_is_only_skipped_on_the_first_line(sup: Tenant) -> None:
    lid = uid("l")
    csv = f"{mobile()}\nnumber\n".encode()
    status, body = await send(sup, "PUT", f"/v1/lists/{lid}?provenance=p", csv, "text/csv")
    assert status == 201, body
    assert [(i["line"], i["value"]) for i in body["invalid"]] == [(2, "number")]


@pytest.mark.parametrize("query", ["", "?provenance=", "?source=crm"])
async def test_a_csv_list_needs_its_provenance(sup: Tenant, query: str) -> None:
    answer = await send(sup, "PUT", f"/v1/lists/{uid('l')}{query}", b"13812345678\n", "text/csv")
    refused(answer, 400, "invalid_request", "provenance")


async def test_a_list_in_another_content_type_is_415(sup: Tenant) -> None:
    answer = await send(
        sup, "PUT", f"/v1/lists/{uid('l')}?provenance=p", b"13812345678\n", "text/plain"
    )
    refused(answer, 415, "unsupported_media_type")


async def test_a_csv_list_that_is_not_utf8_is_400(sup: Tenant) -> None:
    answer = await send(
        sup, "PUT", f"/v1/lists/{uid('l')}?provenance=p", "号码\n".encode("gbk"), "text/csv"
    )
    refused(answer, 400, "invalid_request", "line 1")


async def test_concurrent_uploads_of_a_new_list_make_one_201(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    uploads = [[mobile()] for _ in range(6)]
    answers = await asyncio.gather(
        *(
            sup.call("PUT", f"/v1/lists/{lid}", json={"provenance": "race", "numbers": numbers})
            for numbers in uploads
        )
    )
    assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 200, 201], answers
    # The list holds exactly one upload's numbers, and every upload was audited.
    assert len(await list_numbers(db, lid)) == 1
    entries = await audit_entries(db, "call_list", lid)
    assert sorted(e["action"] for e in entries) == ["create"] + ["replace"] * 5


# --- staff numbers ------------------------------------------------------------------------


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
    listed = await sup.ok("GET", "/v1/staff-numbers", "auditor")
    assert [s["number"] for s in listed["items"] if s["number"] == e164(n)] == [e164(n)]
    status, body = await sup.call("DELETE", f"/v1/staff-numbers/{n}")
    assert (status, body["number"]) == (200, e164(n)), body
    listed = await sup.ok("GET", "/v1/staff-numbers")
    assert e164(n) not in {s["number"] for s in listed["items"]}
    refused(await sup.call("DELETE", f"/v1/staff-numbers/{n}"), 404, "not_found")


async def test_a_staff_number_added_twice_is_409_exists(sup: Tenant) -> None:
    n = mobile()
    await sup.ok("POST", "/v1/staff-numbers", json={"number": n})
    answer = await sup.call("POST", "/v1/staff-numbers", json={"number": f"0086-{n}"})
    refused(answer, 409, "exists", e164(n))


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


# --- the calendar -------------------------------------------------------------------------


async def test_a_calendar_entry_is_201_new_and_200_replaced(sup: Tenant) -> None:
    day = "2031-10-08"
    try:
        status, body = await sup.call(
            "PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"}
        )
        assert status == 201, body
        assert (body["day"], body["kind"], body["name"], body["updated_by"]) == (
            day,
            "holiday",
            "国庆节",
            "test-supervisor",
        )
        status, body = await sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "workday"})
        assert status == 200, body
        assert (body["kind"], body["name"]) == ("workday", None)
        listed = await sup.ok("GET", "/v1/holidays?year=2031", "auditor")
        assert [(h["day"], h["kind"]) for h in listed["items"]] == [(day, "workday")]
        assert day not in {
            h["day"] for h in (await sup.ok("GET", "/v1/holidays?year=2030"))["items"]
        }
        assert day in {h["day"] for h in (await sup.ok("GET", "/v1/holidays"))["items"]}
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_calendar_entry_is_removed(sup: Tenant) -> None:
    day = "2034-05-02"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "restday", "name": "劳动节调休"})
    status, body = await sup.call("DELETE", f"/v1/holidays/{day}")
    assert (status, body["day"], body["kind"]) == (200, day, "restday"), body
    assert (await sup.ok("GET", "/v1/holidays?year=2034"))["items"] == []
    refused(await sup.call("DELETE", f"/v1/holidays/{day}"), 404, "not_found")


@pytest.mark.parametrize(
    "day", ["2031-02-30", "tomorrow", "20311001", "2031-1-1", "2031-W40-3", "２０３１-10-01"]
)
async def test_a_calendar_day_is_written_yyyy_mm_dd(sup: Tenant, day: str) -> None:
    refused(
        await sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"}),
        400,
        "invalid_request",
        "date",
    )
    refused(await sup.call("DELETE", f"/v1/holidays/{day}"), 400, "invalid_request", "date")


@pytest.mark.parametrize("year", ["abc", "1800", "3000", "20.5"])
async def test_the_calendar_year_must_be_a_year(sup: Tenant, year: str) -> None:
    refused(await sup.call("GET", f"/v1/holidays?year={year}"), 400, "invalid_request", "year")


async def test_concurrent_settings_of_a_new_day_make_one_201(sup: Tenant, db: Any) -> None:
    day = "2032-01-05"
    try:
        answers = await asyncio.gather(
            *(sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"}) for _ in range(6))
        )
        assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 200, 201], answers
        entries = await audit_entries(db, "holiday", day)
        assert sorted(e["action"] for e in entries) == ["create"] + ["update"] * 5
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_year_without_a_built_in_calendar_becomes_available(
    tenant: Tenant, clock: Clock
) -> None:
    # 2029 has no built-in calendar; keep the tenant's campaign running through it.
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    callees = iter(tenant.listed)

    async def check(at: str) -> set[str]:
        clock.set(at)
        return codes(await tenant.precheck(tenant.marketing(next(callees))))

    monday = "2029-03-05T10:00:00+08:00"
    assert await check(monday) == {"calendar_unavailable"}
    try:
        await tenant.ok(
            "PUT", "/v1/holidays/2029-10-01", json={"kind": "holiday", "name": "国庆节"}
        )
        assert await check(monday) == {"calendar_unavailable"}  # not declared complete
        await tenant.ok("PUT", "/v1/holidays/years/2029", "admin", json={"complete": True})
        assert await check(monday) == set()
        assert await check("2029-10-01T10:00:00+08:00") == {"holiday_blocked"}
        # The other days of the year go by the weekday: a Saturday is a rest day.
        assert await check("2029-03-10T09:30:00+08:00") == {"outside_calling_hours"}
        assert await check("2029-03-10T10:30:00+08:00") == set()
    finally:
        await tenant.ok("PUT", "/v1/holidays/years/2029", "admin", json={"complete": False})
        await tenant.ok("DELETE", "/v1/holidays/2029-10-01")
    assert await check(monday) == {"calendar_unavailable"}


async def test_a_calendar_entry_wins_over_the_built_in_calendar(tenant: Tenant) -> None:
    wednesday, saturday = "2026-12-02", "2026-12-05"
    callees = iter(tenant.listed)

    async def simulate(at: str) -> set[str]:
        body = {**tenant.marketing(next(callees)), "at": at}
        return codes(await tenant.ok("POST", "/v1/precheck/simulate", "auditor", json=body))

    assert await simulate(f"{wednesday}T10:00:00+08:00") == set()
    assert await simulate(f"{saturday}T09:30:00+08:00") == {"outside_calling_hours"}
    try:
        await tenant.ok("PUT", f"/v1/holidays/{wednesday}", json={"kind": "holiday"})
        await tenant.ok("PUT", f"/v1/holidays/{saturday}", json={"kind": "workday"})
        assert await simulate(f"{wednesday}T10:00:00+08:00") == {"holiday_blocked"}
        assert await simulate(f"{saturday}T09:30:00+08:00") == set()
    finally:
        await tenant.ok("DELETE", f"/v1/holidays/{wednesday}")
        await tenant.ok("DELETE", f"/v1/holidays/{saturday}")
    assert await simulate(f"{wednesday}T10:00:00+08:00") == set()


# --- calendar years ----------------------------------------------------------------------


async def declare(t: Tenant, year: int, complete: bool, **more: Any) -> tuple[int, Any]:
    answer: tuple[int, Any] = await t.call(
        "PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": complete, **more}
    )
    return answer


def year_item(listing: dict[str, Any], year: int) -> dict[str, Any] | None:
    found = [item for item in listing["items"] if item["year"] == year]
    return found[0] if found else None


async def test_one_holiday_entered_does_not_cover_its_year_until_declared_complete(
    tenant: Tenant,
) -> None:
    # 2027 has no built-in calendar; keep the tenant's campaign running through it.
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    callees = iter(tenant.listed)

    async def simulate(at: str) -> set[str]:
        body = {**tenant.marketing(next(callees)), "at": at}
        return codes(await tenant.ok("POST", "/v1/precheck/simulate", "auditor", json=body))

    spring, monday, saturday = "2027-02-08", "2027-03-01T10:00:00+08:00", "2027-03-06"
    try:
        await tenant.ok("PUT", f"/v1/holidays/{spring}", json={"kind": "holiday", "name": "春节"})
        # The year's other statutory holidays are not entered: nothing in it can be judged.
        assert await simulate(monday) == {"calendar_unavailable"}
        assert await simulate(f"{spring}T10:00:00+08:00") == {"calendar_unavailable"}
        listing = await tenant.ok("GET", "/v1/holidays/years", "auditor")
        item = year_item(listing, 2027)
        assert item is not None
        assert (item["covered"], item["covered_by"], item["entries"], item["holidays"]) == (
            False,
            None,
            1,
            1,
        )

        status, body = await declare(tenant, 2027, True, note="国办发明电〔2026〕X号")
        assert status in (200, 201), body  # 200 when an earlier test declared it too
        assert (body["year"], body["complete"], body["covered"], body["covered_by"]) == (
            2027,
            True,
            True,
            "declared",
        )
        assert (body["entries"], body["holidays"], body["declared_by"]) == (1, 1, "test-admin")
        assert body["note"] == "国办发明电〔2026〕X号"
        assert await simulate(f"{spring}T10:00:00+08:00") == {"holiday_blocked"}
        assert await simulate(monday) == set()
        # Days without an entry go by the weekday: a Saturday has rest-day hours.
        assert await simulate(f"{saturday}T09:30:00+08:00") == {"outside_calling_hours"}
        assert await simulate(f"{saturday}T10:30:00+08:00") == set()

        status, body = await declare(tenant, 2027, False)
        assert status == 200, body
        assert (body["complete"], body["covered"], body["covered_by"]) == (False, False, None)
        assert await simulate(monday) == {"calendar_unavailable"}
    finally:
        await declare(tenant, 2027, False)
        await tenant.call("DELETE", f"/v1/holidays/{spring}")


async def test_a_year_is_declared_201_then_200_and_audited(sup: Tenant, db: Any) -> None:
    year = 2150 + random.randint(0, 49)
    day = f"{year}-10-01"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"})
    try:
        first = await declare(sup, year, True)
        assert first[0] == 201, first
        again = await declare(sup, year, False, note="schedule revised")
        assert again[0] == 200, again
        entries = await audit_entries(db, "holiday_year", str(year))
        assert [(e["action"], e["actor"]) for e in entries] == [
            ("create", "test-admin"),
            ("update", "test-admin"),
        ]
        assert entries[0]["before"] is None
        assert (entries[0]["after"]["complete"], entries[1]["before"]["complete"]) == (True, True)
        assert (entries[1]["after"]["complete"], entries[1]["after"]["note"]) == (
            False,
            "schedule revised",
        )
    finally:
        await declare(sup, year, False)
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_year_without_a_holiday_entered_cannot_be_declared_complete(
    sup: Tenant, db: Any
) -> None:
    year = 2100 + random.randint(0, 49)
    message = refused(await declare(sup, year, True), 409, "invalid_state", "year")
    assert f"no holiday of {year} is entered" in message
    # Working weekends alone are not a holiday schedule either.
    day = f"{year}-02-03"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "workday"})
    try:
        refused(await declare(sup, year, True), 409, "invalid_state", "year")
        assert await db.fetchval("SELECT count(*) FROM holiday_years WHERE year = $1", year) == 0
        assert await audit_entries(db, "holiday_year", str(year)) == []
        # Withdrawing, or declaring a year the built-in calendar covers, needs no entry.
        assert (await declare(sup, year, False))[0] == 201
        status, body = await declare(sup, 2025, True)
        assert status in (200, 201), body
        assert (body["covered"], body["covered_by"], body["entries"]) == (True, "built_in", 0)
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")
        await declare(sup, 2025, False)


async def test_the_last_holiday_of_a_declared_year_stays_until_it_is_undeclared(
    sup: Tenant,
) -> None:
    year = 2060 + random.randint(0, 39)
    new_year, labour_day = f"{year}-01-01", f"{year}-05-01"
    await sup.ok("PUT", f"/v1/holidays/{new_year}", json={"kind": "holiday", "name": "元旦"})
    await sup.ok("PUT", f"/v1/holidays/{labour_day}", json={"kind": "holiday", "name": "劳动节"})
    try:
        assert (await declare(sup, year, True))[0] == 201
        await sup.ok("DELETE", f"/v1/holidays/{labour_day}")  # another holiday remains
        refused(await sup.call("DELETE", f"/v1/holidays/{new_year}"), 409, "invalid_state")
        answer = await sup.call("PUT", f"/v1/holidays/{new_year}", json={"kind": "workday"})
        message = refused(answer, 409, "invalid_state", str(year))
        assert f"/v1/holidays/years/{year}" in message
        entries = await sup.ok("GET", f"/v1/holidays?year={year}")
        assert [(h["day"], h["kind"]) for h in entries["items"]] == [(new_year, "holiday")]
        await declare(sup, year, False)
        await sup.ok("DELETE", f"/v1/holidays/{new_year}")
    finally:
        await declare(sup, year, False)
        await sup.call("DELETE", f"/v1/holidays/{new_year}")
        await sup.call("DELETE", f"/v1/holidays/{labour_day}")


async def test_concurrent_declaration_and_removal_leave_no_empty_declared_year(
    sup: Tenant, db: Any
) -> None:
    year = 2040 + random.randint(0, 19)
    day = f"{year}-10-01"
    for _ in range(3):
        await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"})
        try:
            await asyncio.gather(
                declare(sup, year, True), sup.call("DELETE", f"/v1/holidays/{day}")
            )
            complete = await db.fetchval("SELECT complete FROM holiday_years WHERE year = $1", year)
            left = await db.fetchval("SELECT count(*) FROM holidays WHERE day::text = $1", day)
            assert not (complete and left == 0)
        finally:
            await declare(sup, year, False)
            await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_the_years_list_says_what_covers_each_year(sup: Tenant, clock: Clock) -> None:
    listing = await sup.ok("GET", "/v1/holidays/years", "supervisor")
    assert listing["covered_until"] is not None
    assert listing["covered_until"] >= "2026-12-31"
    built_in = [i for i in listing["items"] if i["covered_by"] == "built_in"]
    assert [i["year"] for i in built_in] == list(range(2004, 2027))
    assert all(i["covered"] for i in built_in)
    assert [i["year"] for i in listing["items"]] == sorted(i["year"] for i in listing["items"])
    clock.set("2003-06-02T10:00:00+08:00")  # before the built-in calendar
    assert (await sup.ok("GET", "/v1/holidays/years", "auditor"))["covered_until"] is None


@pytest.mark.parametrize("role", ["supervisor", "auditor", "dialer"])
async def test_only_an_admin_may_declare_a_year(sup: Tenant, role: str) -> None:
    refused(
        await sup.call("PUT", "/v1/holidays/years/2027", role, json={"complete": True}),
        403,
        "forbidden",
    )


@pytest.mark.parametrize("year", ["abc", "1969", "2200", "20271", "027", "２０２７", "-2027"])
async def test_a_declared_year_must_be_from_1970_to_2199(sup: Tenant, year: str) -> None:
    answer = await sup.call("PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": True})
    refused(answer, 400, "invalid_request", "year")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "complete"), ({"complete": "yes"}, "complete"), ({"complete": True, "x": 1}, "x")],
)
async def test_a_declaration_body_is_checked(sup: Tenant, body: Any, field: str) -> None:
    answer = await sup.call("PUT", "/v1/holidays/years/2027", "admin", json=body)
    refused(answer, 400, "invalid_request", field)


async def test_a_declaration_reaches_another_process_within_a_second(
    tenant: Tenant, make_client: Any, settings: Any, clock: Clock
) -> None:
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    other = await make_client(settings, clock)
    check = {**tenant.marketing(), "at": "2027-03-01T10:00:00+08:00"}

    async def judged_on_other() -> set[str]:
        resp = await other.post(
            "/v1/precheck/simulate", json=check, headers=bearer(tenant.tokens["auditor"])
        )
        assert resp.status == 200, await resp.text()
        return codes(await resp.json())

    async def other_sees(expected: set[str]) -> bool:
        return await judged_on_other() == expected

    day = "2027-10-01"
    await tenant.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"})
    try:
        await eventually(lambda: other_sees({"calendar_unavailable"}))
        await declare(tenant, 2027, True)
        await eventually(lambda: other_sees(set()), within=1.0)
        await declare(tenant, 2027, False)
        await eventually(lambda: other_sees({"calendar_unavailable"}), within=1.0)
    finally:
        await declare(tenant, 2027, False)
        await tenant.call("DELETE", f"/v1/holidays/{day}")


async def test_the_openapi_document_lists_the_calendar_year_routes(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).json()
    put = doc["paths"]["/v1/holidays/years/{year}"]["put"]
    assert put["x-roles"] == ["admin"]
    assert {"200", "400", "401", "403", "409", "413", "503"} <= set(put["responses"])
    assert put["responses"]["409"]["x-error-codes"] == ["invalid_state"]
    listing = doc["paths"]["/v1/holidays/years"]["get"]
    assert listing["x-roles"] == ["admin", "auditor", "supervisor"]
    assert (
        "YearsOut" in listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    for method in ("put", "delete"):
        codes_409 = doc["paths"]["/v1/holidays/{day}"][method]["responses"]["409"]
        assert "invalid_state" in codes_409["x-error-codes"]


# --- the policy ---------------------------------------------------------------------------


def policy_with(**changes: Any) -> dict[str, Any]:
    return {**OPEN_POLICY, **changes}


def hours(workday: list[tuple[str, str]], restday: list[tuple[str, str]] | None = None) -> Any:
    return {
        "workday": [{"start": s, "end": e} for s, e in workday],
        "restday": [{"start": s, "end": e} for s, e in restday or []],
        "holiday": [],
    }


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
async def test_the_policy_is_readable_by_every_reviewer(sup: Tenant, role: str) -> None:
    body = await sup.ok("GET", "/v1/policy", role)
    assert set(body) == {"hours", "province_hours", "frequency", "retention"}


@pytest.mark.parametrize("role", ["supervisor", "auditor", "dialer"])
async def test_only_an_admin_may_change_the_policy(sup: Tenant, role: str) -> None:
    answer = await sup.call("PUT", "/v1/policy", role, json=OPEN_POLICY)
    refused(answer, 403, "forbidden")


@pytest.mark.parametrize(
    ("policy", "field"),
    [
        (policy_with(hours=hours([("08:59", "20:00")])), "hours.workday[0].start"),
        (policy_with(hours=hours([("09:00", "21:01")])), "hours.workday[0].end"),
        (policy_with(hours=hours([("09:00", "20:00")], [("07:00", "12:00")])), "restday[0]"),
        (
            policy_with(province_hours={"江苏省": hours([("09:00", "22:00")])}),
            "province_hours.江苏省.workday[0].end",
        ),
    ],
)
async def test_a_window_outside_9_to_21_is_below_the_floor(
    sup: Tenant, policy: dict[str, Any], field: str
) -> None:
    before = await sup.ok("GET", "/v1/policy")
    answer = await sup.call("PUT", "/v1/policy", "admin", json=policy)
    refused(answer, 400, "policy_below_floor", field)
    assert await sup.ok("GET", "/v1/policy") == before


@pytest.mark.parametrize(
    ("section", "field", "value"),
    [
        ("frequency", "per_day", 1001),
        ("frequency", "per_7_days", 1001),
        ("frequency", "min_gap_minutes", 10081),
        ("retention", "no_sale_days", 36501),
        ("retention", "no_sale_days", 3_000_000),
        ("frequency", "per_day", 0),
        ("frequency", "min_gap_minutes", -1),
        ("retention", "no_sale_days", 0),
    ],
)
async def test_a_policy_number_out_of_bounds_is_400_naming_it(
    sup: Tenant, section: str, field: str, value: int
) -> None:
    before = await sup.ok("GET", "/v1/policy")
    policy = policy_with(**{section: {**OPEN_POLICY[section], field: value}})
    answer = await sup.call("PUT", "/v1/policy", "admin", json=policy)
    refused(answer, 400, "invalid_request", f"{section}.{field}")
    assert await sup.ok("GET", "/v1/policy") == before


async def test_policy_numbers_at_their_bounds_are_saved(tenant: Tenant) -> None:
    policy = policy_with(
        frequency={"per_day": 1000, "per_7_days": 1000, "min_gap_minutes": 10080},
        retention={"no_sale_days": 36500},
    )
    try:
        assert await tenant.ok("PUT", "/v1/policy", "admin", json=policy) == policy
        # A call without a sale is read with its retention date 100 years on.
        answer = await tenant.precheck(tenant.marketing())
        detail = await tenant.ok("GET", f"/v1/calls/{answer['call_id']}", "auditor")
        assert detail["retention_until"].startswith("2126-10-30")
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


async def test_a_window_of_exactly_9_to_21_is_allowed(sup: Tenant) -> None:
    policy = policy_with(hours=hours([("09:00", "21:00")], [("09:00", "21:00")]))
    try:
        assert await sup.ok("PUT", "/v1/policy", "admin", json=policy) == policy
    finally:
        await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


@pytest.mark.parametrize("start", ["25:00", "9:00", "09:60", "0900", "noon", ""])
async def test_a_malformed_time_is_invalid_request(sup: Tenant, start: str) -> None:
    answer = await sup.call(
        "PUT", "/v1/policy", "admin", json=policy_with(hours=hours([(start, "20:00")]))
    )
    refused(answer, 400, "invalid_request", "hours.workday[0].start")


async def test_a_window_ending_before_it_starts_is_invalid_request(sup: Tenant) -> None:
    answer = await sup.call(
        "PUT", "/v1/policy", "admin", json=policy_with(hours=hours([("12:00", "10:00")]))
    )
    refused(answer, 400, "invalid_request", "hours.workday[0].end")


async def test_policy_hours_are_required(sup: Tenant) -> None:
    answer = await sup.call("PUT", "/v1/policy", "admin", json=_missing(OPEN_POLICY, "hours"))
    refused(answer, 400, "invalid_request", "hours")


async def test_a_valid_policy_is_saved_and_read_back(sup: Tenant, db: Any) -> None:
    policy = policy_with(
        hours=hours([("09:30", "12:00"), ("13:30", "20:00")], [("10:00", "17:00")]),
        frequency={"per_day": 1, "per_7_days": None, "min_gap_minutes": 60},
        retention={"no_sale_days": 730},
    )
    try:
        status, body = await sup.call("PUT", "/v1/policy", "admin", json=policy)
        assert (status, body) == (200, policy)
        assert await sup.ok("GET", "/v1/policy", "auditor") == policy
        stored = await db.fetchrow("SELECT document, updated_by FROM policy_document")
        assert stored["document"] == policy
        assert stored["updated_by"] == "test-admin"
    finally:
        await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    assert await sup.ok("GET", "/v1/policy") == OPEN_POLICY


async def test_omitted_policy_sections_take_their_defaults(sup: Tenant) -> None:
    try:
        body = await sup.ok("PUT", "/v1/policy", "admin", json={"hours": OPEN_POLICY["hours"]})
        assert body["province_hours"] == {}
        assert body["frequency"] == {"per_day": 2, "per_7_days": 5, "min_gap_minutes": 240}
        assert body["retention"] == {"no_sale_days": 1095}
    finally:
        await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


async def test_province_hours_with_a_full_province_name(tenant: Tenant) -> None:
    beijing, shanghai = landline("010"), landline("021")
    await tenant.ok(
        "PUT",
        f"/v1/lists/{tenant.list_id}",
        json={"provenance": "landlines", "numbers": [beijing, shanghai]},
    )
    policy = policy_with(province_hours={"北京市": hours([("09:00", "09:30")])})
    try:
        body = await tenant.ok("PUT", "/v1/policy", "admin", json=policy)
        assert body["province_hours"] == policy["province_hours"]
        # 10:00 on a workday: past Beijing's window, inside the national one.
        beijing_answer = await tenant.precheck(tenant.marketing(beijing))
        assert beijing_answer["callee_e164"] == landline_e164(beijing)
        assert codes(beijing_answer) == {"outside_calling_hours"}
        assert (await tenant.precheck(tenant.marketing(shanghai)))["decision"] == "allow"
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    assert (await tenant.precheck(tenant.marketing(beijing)))["decision"] == "allow"


@pytest.mark.parametrize("name", ["北京", "Beijing", "北京市朝阳区"])
async def test_province_hours_need_the_full_province_name(sup: Tenant, name: str) -> None:
    policy = policy_with(province_hours={name: hours([("09:00", "19:00")])})
    answer = await sup.call("PUT", "/v1/policy", "admin", json=policy)
    message = refused(answer, 400, "invalid_request", f"province_hours.{name}")
    if name.startswith("北京"):
        assert "北京市" in message


# --- audit --------------------------------------------------------------------------------


def _caller_case() -> tuple[Any, ...]:
    n = caller_number()
    return (
        "/v1/caller-ids",
        {"number": n, "purposes": ["marketing"]},
        f"/v1/caller-ids/{n}",
        {"active": False},
        "caller_id",
        e164(n),
        ("active", True, False),
    )


def _script_case() -> tuple[Any, ...]:
    sid = uid("s")
    return (
        "/v1/scripts",
        script_body(sid),
        f"/v1/scripts/{sid}/1",
        {"status": "approved"},
        "script",
        f"{sid}/1",
        ("status", "draft", "approved"),
    )


def _agent_case() -> tuple[Any, ...]:
    aid = uid("A")
    return (
        "/v1/agents",
        agent_body(aid),
        f"/v1/agents/{aid}",
        {"licence_valid_until": "2027-01-31"},
        "agent",
        aid,
        ("licence_valid_until", FAR, "2027-01-31"),
    )


def _campaign_case() -> tuple[Any, ...]:
    cid = uid("c")
    return (
        "/v1/campaigns",
        campaign_body(cid),
        f"/v1/campaigns/{cid}",
        {"purpose": "appointment"},
        "campaign",
        cid,
        ("purpose", "marketing", "appointment"),
    )


@pytest.mark.parametrize(
    "make_case", [_caller_case, _script_case, _agent_case, _campaign_case], ids=lambda f: f.__name__
)
async def test_create_and_patch_are_audited_with_the_actor(
    sup: Tenant, db: Any, make_case: Callable[[], tuple[Any, ...]]
) -> None:
    create_path, create, patch_path, patch, entity, entity_id, (field, old, new) = make_case()
    created = await sup.ok("POST", create_path, json=create)
    patched = await sup.ok("PATCH", patch_path, json=patch)
    entries = await audit_entries(db, entity, entity_id)
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("create", "test-supervisor"),
        ("update", "test-supervisor"),
    ]
    first, second = entries
    assert first["before"] is None
    assert first["after"] == created
    assert second["before"] == created
    assert second["after"] == patched
    assert (second["before"][field], second["after"][field]) == (old, new)


async def test_a_customer_register_replacement_is_audited(sup: Tenant, db: Any) -> None:
    aid = uid("A")
    await sup.ok("POST", "/v1/agents", json=agent_body(aid, purposes=["appointment"]))
    await sup.ok("PUT", f"/v1/agents/{aid}/customers", json={"numbers": [mobile(), mobile()]})
    await sup.ok("PUT", f"/v1/agents/{aid}/customers", json={"numbers": [mobile()]})
    entries = await audit_entries(db, "agent_customers", aid)
    assert [(e["action"], e["actor"], e["before"], e["after"]) for e in entries] == [
        ("replace", "test-supervisor", {"count": 0}, {"count": 2}),
        ("replace", "test-supervisor", {"count": 2}, {"count": 1}),
    ]


async def test_a_list_upload_is_audited(sup: Tenant, db: Any) -> None:
    lid = uid("l")
    await sup.ok("PUT", f"/v1/lists/{lid}", json={"provenance": "first", "numbers": [mobile()]})
    await sup.ok("PUT", f"/v1/lists/{lid}", json={"provenance": "second", "numbers": []})
    first, second = await audit_entries(db, "call_list", lid)
    assert (first["action"], first["actor"], first["before"]) == ("create", "test-supervisor", None)
    assert (first["after"]["provenance"], first["after"]["size"]) == ("first", 1)
    assert (second["action"], second["actor"]) == ("replace", "test-supervisor")
    assert second["before"]["provenance"] == "first"
    assert (second["after"]["provenance"], second["after"]["size"]) == ("second", 0)


async def test_staff_number_changes_are_audited(sup: Tenant, db: Any) -> None:
    n = mobile()
    await sup.ok("POST", "/v1/staff-numbers", json={"number": n, "note": "总部"})
    await sup.ok("DELETE", f"/v1/staff-numbers/{n}")
    added, removed = await audit_entries(db, "staff_number", e164(n))
    assert (added["action"], added["actor"], added["before"]) == ("create", "test-supervisor", None)
    assert (added["after"]["number"], added["after"]["note"]) == (e164(n), "总部")
    assert (removed["action"], removed["actor"], removed["after"]) == (
        "delete",
        "test-supervisor",
        None,
    )
    assert removed["before"]["number"] == e164(n)


async def test_calendar_changes_are_audited(sup: Tenant, db: Any) -> None:
    day = "2033-02-01"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "春节"})
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "restday"})
    await sup.ok("DELETE", f"/v1/holidays/{day}")
    created, updated, deleted = await audit_entries(db, "holiday", day)
    assert [e["actor"] for e in (created, updated, deleted)] == ["test-supervisor"] * 3
    assert (created["action"], created["before"], created["after"]["kind"]) == (
        "create",
        None,
        "holiday",
    )
    assert (updated["action"], updated["before"]["kind"], updated["after"]["kind"]) == (
        "update",
        "holiday",
        "restday",
    )
    assert (deleted["action"], deleted["before"]["kind"], deleted["after"]) == (
        "delete",
        "restday",
        None,
    )


async def test_a_policy_change_is_audited_with_the_admin_as_actor(sup: Tenant, db: Any) -> None:
    policy = policy_with(frequency={"per_day": 1, "per_7_days": 3, "min_gap_minutes": 30})
    await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    try:
        await sup.ok("PUT", "/v1/policy", "admin", json=policy)
    finally:
        await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    *_, changed, restored = await audit_entries(db, "policy", "policy")
    assert (changed["action"], changed["actor"]) == ("replace", "test-admin")
    assert (changed["before"], changed["after"]) == (OPEN_POLICY, policy)
    assert (restored["before"], restored["after"]) == (policy, OPEN_POLICY)


async def test_a_refused_change_leaves_no_trace(sup: Tenant, db: Any) -> None:
    sid = uid("s")
    await sup.ok("POST", "/v1/scripts", json=script_body(sid))
    entries = await db.fetchval("SELECT count(*) FROM audit_log WHERE entity <> 'precheck'")
    version = await db.fetchval("SELECT version FROM registry_state")
    refused(await sup.call("POST", "/v1/scripts", json=script_body(sid)), 409, "exists")
    refused(
        await sup.call("PATCH", f"/v1/scripts/{sid}/1", json={"status": "filed"}),
        409,
        "invalid_state",
    )
    refused(
        await sup.call("PATCH", f"/v1/scripts/{sid}/1", json={"title": NUL}), 400, "invalid_request"
    )
    refused(
        await sup.call(
            "PUT", "/v1/policy", "admin", json=policy_with(hours=hours([("08:00", "20:00")]))
        ),
        400,
        "policy_below_floor",
    )
    assert await db.fetchval("SELECT count(*) FROM audit_log WHERE entity <> 'precheck'") == entries
    assert await db.fetchval("SELECT version FROM registry_state") == version


async def test_the_audit_chain_verifies_after_registry_changes(sup: Tenant, db: Any) -> None:
    aid = uid("A")
    await sup.ok("POST", "/v1/agents", json=agent_body(aid, name='含 "引号" 与 emoji 🙂'))
    await sup.ok("PATCH", f"/v1/agents/{aid}", json={"active": False})
    report = await verify(db)
    assert report.broken_at is None, report
    assert report.checked >= 2


# --- visibility on every process ----------------------------------------------------------


async def test_a_change_is_seen_by_the_next_check_on_the_same_process(tenant: Tenant) -> None:
    await tenant.ok("PATCH", f"/v1/agents/{tenant.agent}", json={"purposes": ["appointment"]})
    assert codes(await tenant.precheck(tenant.marketing())) == {"agent_not_authorized"}


# Each makes one change through the first process and names the reason it must bring.
Change = Callable[[Tenant, str], Awaitable[str]]


async def _change_agent(t: Tenant, caller: str) -> str:
    await t.ok("PATCH", f"/v1/agents/{t.agent}", json={"active": False})
    return "agent_not_authorized"


async def _change_caller_id(t: Tenant, caller: str) -> str:
    await t.ok("PATCH", f"/v1/caller-ids/{caller}", json={"purposes": ["service"]})
    return "caller_id_not_registered"


async def _change_script(t: Tenant, caller: str) -> str:
    await t.ok("PATCH", f"/v1/scripts/{t.script}/1", json={"status": "retired"})
    return "script_not_approved"


async def _change_campaign(t: Tenant, caller: str) -> str:
    await t.ok("PATCH", f"/v1/campaigns/{t.campaign}", json={"active": False})
    return "campaign_not_active"


async def _change_list(t: Tenant, caller: str) -> str:
    await t.ok("PUT", f"/v1/lists/{t.list_id}", json={"provenance": "p", "numbers": [mobile()]})
    return "not_in_approved_list"


async def _change_staff(t: Tenant, caller: str) -> str:
    await t.ok("POST", "/v1/staff-numbers", json={"number": t.listed[0]})
    return "staff_number"


async def _change_policy(t: Tenant, caller: str) -> str:
    await t.ok("PUT", "/v1/policy", "admin", json=policy_with(hours=hours([("09:00", "09:30")])))
    return "outside_calling_hours"


async def _change_calendar(t: Tenant, caller: str) -> str:
    await t.ok("PUT", "/v1/holidays/2026-11-23", json={"kind": "holiday"})
    return "holiday_blocked"


CHANGES: dict[str, Change] = {
    "agent": _change_agent,
    "caller_id": _change_caller_id,
    "script": _change_script,
    "campaign": _change_campaign,
    "list": _change_list,
    "staff": _change_staff,
    "policy": _change_policy,
    "calendar": _change_calendar,
}


@pytest.mark.parametrize("kind", list(CHANGES))
async def test_a_change_reaches_another_process_within_a_second(
    tenant: Tenant, make_client: Any, settings: Any, clock: Clock, kind: str
) -> None:
    # The tenant's campaign gets a caller id of its own, so changing it touches no one else.
    caller = caller_number()
    await tenant.ok(
        "POST", "/v1/caller-ids", json={"number": caller, "purposes": ["marketing", "service"]}
    )
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"caller_ids": [CALLER_ID, caller]}
    )
    other = await make_client(settings, clock)
    check = tenant.marketing(caller_id=caller)

    async def judged_on_other() -> set[str]:
        resp = await other.post(
            "/v1/precheck/simulate",
            json={**check, "at": NOW},
            headers=bearer(tenant.tokens["auditor"]),
        )
        assert resp.status == 200, await resp.text()
        return codes(await resp.json())

    assert await judged_on_other() == set()
    try:
        expected = await CHANGES[kind](tenant, caller)

        async def seen() -> bool:
            return await judged_on_other() == {expected}

        await eventually(seen, within=1.0)
        # A real check on the other process agrees.
        resp = await other.post("/v1/precheck", json=check, headers=bearer(tenant.tokens["dialer"]))
        assert codes(await resp.json()) == {expected}
    finally:
        if kind == "policy":
            await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
        if kind == "calendar":
            await tenant.ok("DELETE", "/v1/holidays/2026-11-23")


async def test_the_policy_read_on_another_process_follows_within_a_second(
    sup: Tenant, make_client: Any, settings: Any, clock: Clock
) -> None:
    other = await make_client(settings, clock)
    policy = policy_with(frequency={"per_day": 3, "per_7_days": 9, "min_gap_minutes": 15})
    await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)

    async def other_has(expected: dict[str, Any]) -> bool:
        resp = await other.get("/v1/policy", headers=bearer(sup.tokens["auditor"]))
        return bool(await resp.json() == expected)

    await eventually(lambda: other_has(OPEN_POLICY))
    try:
        await sup.ok("PUT", "/v1/policy", "admin", json=policy)
        await eventually(lambda: other_has(policy), within=1.0)
    finally:
        await sup.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await eventually(lambda: other_has(OPEN_POLICY), within=1.0)
