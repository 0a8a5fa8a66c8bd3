"""The admin's policy: who may read and change it, its floors and bounds, and calling hours."""

from __future__ import annotations

import random
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, codes
from tests.support.registries import hours, policy_with, refused, without_field

pytestmark = pytest.mark.asyncio


def landline(area: str) -> str:
    return f"{area}-6{random.randint(0, 9_999_999):07d}"


def landline_e164(number: str) -> str:
    return "+86" + number.replace("-", "")[1:]


@pytest.mark.parametrize("role", ["supervisor", "auditor", "admin"])
async def test_the_policy_is_readable_by_every_reviewer(sup: Tenant, role: str) -> None:
    body = await sup.ok("GET", "/v1/policy", role)
    assert set(body) == {
        "hours",
        "province_hours",
        "frequency",
        "retention",
        "frequency_purposes",
        "telesales_product_types",
        "cooling_off_days",
    }


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
    answer = await sup.call("PUT", "/v1/policy", "admin", json=without_field(OPEN_POLICY, "hours"))
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
