"""What every registry route checks alike: missing, mistyped, unknown and bad fields,
bodies that are not JSON objects, auditors who only read, and an entry added twice."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.tenant import CALLER_ID, OPEN_POLICY, Tenant, e164, mobile
from tests.support.registries import (
    NUL,
    agent_body,
    caller_body,
    caller_number,
    campaign_body,
    refused,
    script_body,
    send,
    uid,
    without_field,
)

pytestmark = pytest.mark.asyncio


MISSING_FIELD = [
    ("POST", "/v1/caller-ids", {"number": CALLER_ID}, "purposes"),
    ("POST", "/v1/caller-ids", {"purposes": ["marketing"]}, "number"),
    ("POST", "/v1/scripts", without_field(script_body("s-missing"), "title"), "title"),
    ("POST", "/v1/scripts", without_field(script_body("s-missing"), "version"), "version"),
    ("POST", "/v1/agents", without_field(agent_body("A-missing"), "licence_no"), "licence_no"),
    (
        "POST",
        "/v1/agents",
        without_field(agent_body("A-missing"), "training_valid_until"),
        "training_valid_until",
    ),
    ("PUT", "/v1/agents/A-missing/customers", {}, "numbers"),
    ("POST", "/v1/campaigns", without_field(campaign_body("c-missing"), "purpose"), "purpose"),
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


# An entry added twice: the registry's path, the entry, the same entry again (written
# otherwise where a number can be), and the id the refusal names.
Twice = tuple[str, dict[str, Any], dict[str, Any], str]


def _caller_id_twice() -> Twice:
    number = caller_number()
    written_otherwise = f"+86 {number[:3]}-{number[3:6]}-{number[6:]}"
    return (
        "/v1/caller-ids",
        caller_body(number, ["marketing"]),
        caller_body(written_otherwise, ["service"]),
        e164(number),
    )


def _agent_twice() -> Twice:
    aid = uid("A")
    return "/v1/agents", agent_body(aid), agent_body(aid), aid


def _campaign_twice() -> Twice:
    cid = uid("c")
    return "/v1/campaigns", campaign_body(cid), campaign_body(cid), cid


def _staff_number_twice() -> Twice:
    n = mobile()
    return "/v1/staff-numbers", {"number": n}, {"number": f"0086-{n}"}, e164(n)


@pytest.mark.parametrize(
    "twice",
    [
        pytest.param(_caller_id_twice, id="caller-id"),
        pytest.param(_agent_twice, id="agent"),
        pytest.param(_campaign_twice, id="campaign"),
        pytest.param(_staff_number_twice, id="staff-number"),
    ],
)
async def test_an_entry_added_twice_is_409_exists(sup: Tenant, twice: Callable[[], Twice]) -> None:
    path, entry, again, named = twice()
    await sup.ok("POST", path, json=entry)
    refused(await sup.call("POST", path, json=again), 409, "exists", named)
