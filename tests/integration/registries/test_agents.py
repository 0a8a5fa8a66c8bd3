"""Agents and their customer registers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import Tenant, codes, e164, mobile
from tests.support.registries import FAR, agent_body, refused, uid

pytestmark = pytest.mark.asyncio


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
    assert body["kind"] == "telesales"
    listed = await sup.ok("GET", "/v1/agents", "auditor")
    assert [a["name"] for a in listed["items"] if a["agent_id"] == aid] == ["张伟"]


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


async def test_an_agent_may_be_registered_as_an_individual_agent(sup: Tenant) -> None:
    aid = uid("A")
    body = await sup.ok("POST", "/v1/agents", json=agent_body(aid, kind="individual_agent"))
    assert body["kind"] == "individual_agent"
    body = await sup.ok("PATCH", f"/v1/agents/{aid}", json={"kind": "telesales"})
    assert body["kind"] == "telesales"


@pytest.mark.parametrize("kind", ["agent", "Telesales", "", None, 1])
async def test_an_unknown_agent_kind_is_400_naming_it(sup: Tenant, kind: Any) -> None:
    aid = uid("A")
    answer = await sup.call("POST", "/v1/agents", json=agent_body(aid, kind=kind))
    refused(answer, 400, "invalid_request", "kind")
    await sup.ok("POST", "/v1/agents", json=agent_body(aid))
    answer = await sup.call("PATCH", f"/v1/agents/{aid}", json={"kind": kind})
    refused(answer, 400, "invalid_request", "kind")


async def test_an_individual_agent_makes_no_marketing_call(tenant: Tenant) -> None:
    assert (await tenant.precheck(tenant.marketing()))["decision"] == "allow"
    await tenant.ok("PATCH", f"/v1/agents/{tenant.agent}", json={"kind": "individual_agent"})
    # Not even to a number on the campaign's list, nor to one of its own customers.
    assert codes(await tenant.precheck(tenant.marketing())) == {"cold_call_forbidden"}
    tenant.listed.append(tenant.customers[0])
    await tenant.ok(
        "PUT",
        f"/v1/lists/{tenant.list_id}",
        json={"provenance": "test leads", "numbers": tenant.listed},
    )
    own = tenant.marketing(tenant.customers[0])
    answer = await tenant.precheck(own)
    assert codes(answer) == {"cold_call_forbidden"}
    assert "individual agent" in answer["reasons"][0]["message"]
    # Appointment calls to its own customers stay allowed.
    assert (await tenant.precheck(tenant.appointment(tenant.customers[1])))["decision"] == "allow"
    await tenant.ok("PATCH", f"/v1/agents/{tenant.agent}", json={"kind": "telesales"})
    assert (await tenant.precheck(tenant.marketing(tenant.listed[1])))["decision"] == "allow"
