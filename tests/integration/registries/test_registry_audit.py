"""Audit entries of registry and policy changes, and the audit chain."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.store.audit import verify
from tests.integration.tenant import OPEN_POLICY, Tenant, e164, mobile
from tests.support.registries import (
    FAR,
    NUL,
    agent_body,
    audit_entries,
    caller_body,
    caller_number,
    campaign_body,
    hours,
    policy_with,
    refused,
    script_body,
    uid,
)

pytestmark = pytest.mark.asyncio


def _caller_case() -> tuple[Any, ...]:
    n = caller_number()
    return (
        "/v1/caller-ids",
        caller_body(n, ["marketing"]),
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
