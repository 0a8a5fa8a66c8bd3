"""Registry and policy changes reaching the next check, on this process and another."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.integration.tenant import CALLER_ID, OPEN_POLICY, Tenant, codes, mobile
from tests.support.clock import Clock
from tests.support.headers import bearer
from tests.support.registries import caller_body, caller_number, eventually, hours, policy_with

pytestmark = pytest.mark.asyncio


NOW = "2026-11-23T10:00:00+08:00"  # the clock fixture's moment


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
    await tenant.ok("POST", "/v1/caller-ids", json=caller_body(caller, ["marketing", "service"]))
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
