"""A `dnc_listed` message says since when the number is blocked and why: looked up after
the verdict, for denied checks and scrub results only, and left out when it cannot be."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.appkeys import PG
from gateway.policy import Verdict
from gateway.policy.types import reason
from gateway.services.dnc_since import ListedSinceLookup
from gateway.store.postgres import create_pool
from tests.integration.tenant import OPEN_POLICY, Tenant, e164, mobile
from tests.integration.test_dnc_merge import refuse

CHINA = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=2)


async def test_a_dnc_listed_message_says_since_when_and_why(tenant: Tenant, db: Any) -> None:
    number = mobile()
    entry = await refuse(tenant, number)
    since = datetime.fromisoformat(entry["created_at"]).astimezone(CHINA).date()
    answer = await tenant.precheck(tenant.marketing(number))
    [listed] = [r for r in answer["reasons"] if r["code"] == "dnc_listed"]
    assert listed["message"].endswith(
        f"which covers marketing calls, since {since} (customer_refusal: 客户明确拒绝)"
    )
    stored = await db.fetchval(
        "SELECT reasons FROM calls WHERE call_id = $1::uuid", answer["call_id"]
    )
    assert f"since {since} (customer_refusal" in str(stored)


async def test_since_is_when_the_blocking_began_through_merges(tenant: Tenant, db: Any) -> None:
    number = mobile()
    await refuse(tenant, number)
    await db.execute(
        "UPDATE dnc_entries SET created_at = '2026-11-02T09:00:00+08:00' "
        "WHERE number = $1 AND ended_at IS NULL",
        e164(number),
    )
    widened = await tenant.ok(
        "PUT", f"/v1/dnc/{number}", json={"reason": "refused every call", "scope": "all"}
    )
    today = datetime.fromisoformat(widened["created_at"]).astimezone(CHINA).date()
    marketing = await tenant.precheck(tenant.marketing(number))
    [m] = [r["message"] for r in marketing["reasons"] if r["code"] == "dnc_listed"]
    assert m.endswith("since 2026-11-02 (customer_refusal: 客户明确拒绝)")
    callback = await tenant.precheck(tenant.callback(number))
    [c] = [r["message"] for r in callback["reasons"] if r["code"] == "dnc_listed"]
    assert c.endswith(f"since {today} (supervisor: refused every call)")


async def test_scrub_results_say_since_when_and_why(tenant: Tenant) -> None:
    listed, free = mobile(), mobile()
    entry = await refuse(tenant, listed, scope="all")
    since = datetime.fromisoformat(entry["created_at"]).astimezone(CHINA).date()
    answer = await tenant.ok(
        "POST", "/v1/scrub", "dialer", json={"purpose": "service", "numbers": [listed, free]}
    )
    first, second = answer["results"]
    assert first["callable"] is False
    assert first["reasons"][0]["message"].endswith(
        f"since {since} (customer_refusal: 客户明确拒绝)"
    )
    assert second["callable"] is True


async def test_without_the_lookup_the_message_stays_as_it_was(
    tenant: Tenant, database_url: str
) -> None:
    number = mobile()
    await refuse(tenant, number)
    denied = Verdict.of(
        (reason("dnc_listed", "callee is on the do-not-call list", "被叫号码在禁止拨打名单中"),)
    )
    pool = await create_pool(database_url, min_size=1, max_size=1)
    lookup = ListedSinceLookup(pool)
    assert (await lookup.explain(denied, e164(number), "marketing", 3.0)) != denied
    assert (await lookup.explain(denied, e164(number), "marketing", 0.0)) == denied  # no time
    assert (await lookup.explain(denied, e164(number), "callback", 3.0)) == denied  # no block
    await pool.close()
    assert (await lookup.explain(denied, e164(number), "marketing", 3.0)) == denied  # failed
    live = ListedSinceLookup(tenant.client.server.app[PG])
    assert await live.find([e164(number)], "marketing", 3.0)


async def test_the_lookups_own_connection_recovers_after_it_is_cut(
    tenant: Tenant, database_url: str, db: Any
) -> None:
    number = mobile()
    await refuse(tenant, number)
    pool = await create_pool(database_url, min_size=1, max_size=1)
    lookup = ListedSinceLookup(pool, database_url)
    try:
        assert e164(number) in await lookup.find([e164(number)], "marketing", 3.0)
        own = lookup._own
        assert own is not None
        # The server ends the lookup's connection: that lookup finds nothing (the message
        # stays as it was), and the next one connects again.
        await db.execute("SELECT pg_terminate_backend($1)", own.get_server_pid())
        assert await lookup.find([e164(number)], "marketing", 3.0) == {}
        assert e164(number) in await lookup.find([e164(number)], "marketing", 3.0)
        assert lookup._own is not own
    finally:
        lookup.close()
        await pool.close()
