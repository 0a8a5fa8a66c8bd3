"""Attempt caps count calls of every purpose the policy names (all four by default), over
HTTP against real PostgreSQL and Redis; marketing and appointment can never be left out."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, codes, mobile, until
from tests.support.registries import refused

pytestmark = pytest.mark.asyncio

PURPOSES = ("marketing", "appointment", "callback", "service")


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)  # two attempts a day, no gap
    return await t.build()


def service(tenant: Tenant, callee: str) -> dict[str, Any]:
    return {**tenant.callback(callee), "purpose": "service"}


async def test_return_visits_are_capped_like_sales_calls(tenant: Tenant) -> None:
    number = mobile()
    for _ in range(2):
        assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.callback(number))) == {"frequency_exceeded"}
    assert codes(await tenant.precheck(service(tenant, number))) == {"frequency_exceeded"}


async def test_service_calls_use_up_the_sales_calls_attempts(tenant: Tenant) -> None:
    number = tenant.listed[0]
    for _ in range(2):
        assert (await tenant.precheck(service(tenant, number)))["decision"] == "allow"
    # Two service calls today: no marketing call may follow them.
    assert codes(await tenant.precheck(tenant.marketing(number))) == {"frequency_exceeded"}


async def test_a_denied_return_visit_counts_nothing(tenant: Tenant) -> None:
    number = mobile()
    by_seller = tenant.callback(number, sold_by_agent_id=tenant.callback_agent)
    for _ in range(3):
        assert codes(await tenant.precheck(by_seller)) == {"callback_by_seller"}
    for _ in range(2):
        assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"


async def test_a_purpose_the_admin_left_out_is_neither_counted_nor_capped(tenant: Tenant) -> None:
    policy = {**OPEN_POLICY, "frequency_purposes": ["marketing", "appointment", "callback"]}
    assert (await tenant.ok("PUT", "/v1/policy", "admin", json=policy))["frequency_purposes"] == [
        "marketing",
        "appointment",
        "callback",
    ]
    try:
        number = tenant.listed[1]
        for _ in range(3):
            assert (await tenant.precheck(service(tenant, number)))["decision"] == "allow"
        for _ in range(2):
            assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
        assert codes(await tenant.precheck(tenant.marketing(number))) == {"frequency_exceeded"}
        # Callbacks are still counted.
        other = mobile()
        for _ in range(2):
            assert (await tenant.precheck(tenant.callback(other)))["decision"] == "allow"
        assert codes(await tenant.precheck(tenant.callback(other))) == {"frequency_exceeded"}
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


def _every_list() -> list[list[str]]:
    return [list(c) for n in range(len(PURPOSES) + 1) for c in combinations(PURPOSES, n)]


async def test_no_policy_the_admin_can_save_leaves_sales_calls_uncapped(tenant: Tenant) -> None:
    """Every set of purposes an admin can send: the policy is saved exactly when it keeps
    marketing and appointment, and then both are capped; else it is policy_below_floor and
    the policy in force stays."""
    policy = {**OPEN_POLICY, "frequency": {"per_day": 1, "per_7_days": 5, "min_gap_minutes": 0}}
    try:
        for purposes in _every_list():
            status, body = await tenant.call(
                "PUT", "/v1/policy", "admin", json={**policy, "frequency_purposes": purposes}
            )
            keeps_sales = {"marketing", "appointment"} <= set(purposes)
            if not keeps_sales:
                refused((status, body), 400, "policy_below_floor", "frequency_purposes")
                continue
            assert status == 200, body
            assert (await tenant.ok("GET", "/v1/policy"))["frequency_purposes"] == purposes
            marketing, appointment = tenant.listed[2], tenant.customers[0]
            for request in (tenant.marketing(marketing), tenant.appointment(appointment)):
                assert (await tenant.precheck(request))["decision"] == "allow", purposes
                assert codes(await tenant.precheck(request)) == {"frequency_exceeded"}, purposes
            tenant.listed.pop(2)  # a fresh number for the next set
            tenant.customers.pop(0)
            if not tenant.customers or len(tenant.listed) < 3:
                await _more_numbers(tenant)
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)


async def _more_numbers(tenant: Tenant) -> None:
    tenant.listed = [mobile() for _ in range(8)]
    await tenant.ok(
        "PUT",
        f"/v1/lists/{tenant.list_id}",
        json={"provenance": "test leads", "numbers": tenant.listed},
    )
    tenant.customers = [mobile() for _ in range(8)]
    await tenant.ok(
        "PUT", f"/v1/agents/{tenant.agent}/customers", json={"numbers": tenant.customers}
    )


@pytest.mark.parametrize(
    ("purposes", "field"),
    [
        (["marketing", "appointment", "marketing"], "frequency_purposes"),
        (["marketing", "appointment", "sales"], "frequency_purposes[2]"),
        ("marketing", "frequency_purposes"),
    ],
)
async def test_malformed_frequency_purposes_are_400_naming_them(
    tenant: Tenant, purposes: Any, field: str
) -> None:
    before = await tenant.ok("GET", "/v1/policy")
    answer = await tenant.call(
        "PUT", "/v1/policy", "admin", json={**OPEN_POLICY, "frequency_purposes": purposes}
    )
    refused(answer, 400, "invalid_request", field)
    assert await tenant.ok("GET", "/v1/policy") == before


async def test_return_visits_stay_capped_after_redis_loses_the_counters(tenant: Tenant) -> None:
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    keys, redis = app[KEYS], app[REDIS]
    number = mobile()
    for _ in range(2):
        assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"
    # Redis lost the counter and the do-not-call cache: the rebuild counts again from the
    # decisions, callbacks included.
    await redis.delete(keys.attempts("+86" + number), keys.dnc_current)

    async def rebuilt() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[3]))
        return answer["decision"] == "allow"

    assert await until(rebuilt)
    assert codes(await tenant.precheck(tenant.callback(number))) == {"frequency_exceeded"}
