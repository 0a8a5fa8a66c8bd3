"""Writers of the same number at the same moment: every request answers (no 500), none is
lost, and the entry left merges them all (never weaker than any acknowledged listing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, e164, mobile
from tests.integration.test_dnc import import_csv

ROUNDS = 8


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=ROUNDS)


async def active(db: Any, number: str) -> Any:
    return await db.fetchrow(
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL", e164(number)
    )


@pytest.mark.parametrize("listed_before", [False, True])
async def test_concurrent_puts_all_answer_and_merge(
    tenant: Tenant, db: Any, listed_before: bool
) -> None:
    for _ in range(ROUNDS):
        number = mobile()
        if listed_before:
            await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r0", "scope": "marketing"})
        answers = await asyncio.gather(
            tenant.call("PUT", f"/v1/dnc/{number}", json={"reason": "ra", "scope": "all"}),
            tenant.call("PUT", f"/v1/dnc/{number}", json={"reason": "rb", "scope": "marketing"}),
            tenant.call(
                "PUT",
                f"/v1/dnc/{number}",
                json={"reason": "rc", "scope": "marketing", "expires_at": "2030-01-01T00:00:00Z"},
            ),
        )
        assert [status for status, _ in answers if status not in (200, 201)] == [], answers
        entry = await active(db, number)
        assert (entry["scope"], entry["expires_at"]) == ("all", None)


async def test_an_opt_out_racing_a_supervisor_put_is_never_lost(tenant: Tenant, db: Any) -> None:
    for number in tenant.listed[:ROUNDS]:
        call = (await tenant.precheck(tenant.marketing(number)))["call_id"]
        await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r0", "scope": "marketing"})
        answers = await asyncio.gather(
            tenant.call(
                "POST",
                f"/v1/calls/{call}/events",
                "dialer",
                json={"type": "opt_out", "scope": "all"},
            ),
            tenant.call("PUT", f"/v1/dnc/{number}", json={"reason": "rb", "scope": "marketing"}),
        )
        assert [status for status, _ in answers] == [201, 200], answers
        entry = await active(db, number)
        assert entry["scope"] == "all"
        assert entry["refusal_made_at"] is not None  # the refusal's protection stands


async def test_a_put_racing_an_import_of_the_same_numbers_answers_and_keeps_both(
    tenant: Tenant, db: Any
) -> None:
    numbers = [mobile() for _ in range(200)]
    body = "".join(f"{n},imported\n" for n in numbers)
    put = [
        tenant.call(
            "PUT", f"/v1/dnc/{n}", json={"reason": "客户明确拒绝", "source": "customer_refusal"}
        )
        for n in numbers[::20]
    ]
    results = await asyncio.gather(import_csv(tenant, body, "?scope=all"), *put)
    assert all(status in (200, 201) for status, _ in results[1:]), results[1:]
    for n in numbers[::20]:
        entry = await active(db, n)
        assert entry is not None
        # Whichever came second merged with the first: the refusal is there either way.
        refused = await db.fetchval(
            "SELECT count(*) FROM dnc_entries WHERE number = $1 AND source = 'customer_refusal'",
            e164(n),
        )
        assert refused == 1 and entry["refusal_made_at"] is not None


async def test_a_refusal_made_again_is_recorded_and_protected_anew(tenant: Tenant, db: Any) -> None:
    number = mobile()
    body = {"reason": "客户明确拒绝", "source": "customer_refusal", "scope": "all"}
    await tenant.ok("PUT", f"/v1/dnc/{number}", json=body)
    # The first refusal was made seven months ago: its protection has run out.
    await db.execute(
        "UPDATE dnc_entries SET created_at = now() - interval '7 months', "
        "refusal_made_at = now() - interval '7 months' WHERE number = $1",
        e164(number),
    )
    status, again = await tenant.call("PUT", f"/v1/dnc/{number}", json=body)
    assert status == 200
    assert again["protected_until"] is not None
    history = await db.fetchval("SELECT count(*) FROM dnc_entries WHERE number = $1", e164(number))
    assert history == 2
    status, refused = await tenant.call("DELETE", f"/v1/dnc/{number}", json={"reason": "cleanup"})
    assert status == 409 and refused["error"]["code"] == "refusal_protected"
