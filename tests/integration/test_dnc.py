"""The do-not-call list over HTTP: supervisor edits, history, import, export, the cache."""

from __future__ import annotations

import asyncio
import csv
import io
import random
from typing import Any

import pytest

from gateway.policy import mask_number
from gateway.policy.masking import NumberMask
from tests.integration.tenant import OPEN_POLICY, Tenant, codes, e164, mobile
from tests.support.clock import Clock
from tests.support.headers import bearer


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=8)


async def test_listing_denies_the_next_check_on_every_process(
    tenant: Tenant, make_client: Any, settings: Any, clock: Clock
) -> None:
    other = await make_client(settings, clock)
    number = tenant.listed[0]
    status, entry = await tenant.call(
        "PUT", f"/v1/dnc/{number}", json={"reason": "asked by letter"}
    )
    assert status == 201
    assert entry["number"] == e164(number)
    assert entry["source"] == "supervisor"
    assert entry["created_by"] == "test-supervisor"
    resp = await other.post(
        "/v1/precheck", json=tenant.marketing(number), headers=bearer(tenant.tokens["dialer"])
    )
    assert codes(await resp.json()) == {"dnc_listed"}


async def test_listing_again_is_200_and_a_scope_change_keeps_history(tenant: Tenant) -> None:
    number = tenant.listed[1]
    assert (await tenant.call("PUT", f"/v1/dnc/{number}", json={"reason": "r"}))[0] == 201
    assert (await tenant.call("PUT", f"/v1/dnc/{number}", json={"reason": "r"}))[0] == 200
    status, entry = await tenant.call(
        "PUT", f"/v1/dnc/{number}", json={"reason": "refused everything", "scope": "all"}
    )
    assert status == 200
    assert entry["scope"] == "all"
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "auditor")
    assert history["active"] is True
    assert [e["scope"] for e in history["entries"]] == ["marketing", "all"]
    assert history["entries"][0]["end_reason"] == "superseded by a new entry"
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_delete_needs_a_reason(tenant: Tenant) -> None:
    number = tenant.listed[2]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "r"})
    status, body = await tenant.call("DELETE", f"/v1/dnc/{number}")
    assert status == 400
    assert "reason" in body["error"]["message"]
    status, body = await tenant.call("DELETE", f"/v1/dnc/{number}", json={})
    assert status == 400
    assert "reason" in body["error"]["message"]


async def test_delete_allows_calls_again_and_keeps_the_history(tenant: Tenant, db: Any) -> None:
    number = tenant.listed[3]
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "complaint"})
    assert codes(await tenant.precheck(tenant.marketing(number))) == {"dnc_listed"}
    ended = await tenant.ok(
        "DELETE", f"/v1/dnc/{number}", json={"reason": "number reassigned to a new subscriber"}
    )
    assert ended["ended_by"] == "test-supervisor"
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "supervisor")
    assert history["active"] is False
    assert history["entries"][0]["end_reason"] == "number reassigned to a new subscriber"
    assert (
        await db.fetchval("SELECT count(*) FROM dnc_entries WHERE number = $1", e164(number)) == 1
    )
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE entity = 'dnc' AND entity_id = $1 ORDER BY seq",
            e164(number),
        )
    ]
    assert actions == ["list", "unlist"]
    status, _ = await tenant.call("DELETE", f"/v1/dnc/{number}", json={"reason": "again"})
    assert status == 404


async def test_unknown_and_invalid_numbers(tenant: Tenant) -> None:
    status, body = await tenant.call("GET", f"/v1/dnc/{mobile()}")
    assert status == 404
    status, body = await tenant.call("GET", "/v1/dnc/12345")
    assert status == 400
    assert body["error"]["code"] == "invalid_request"


async def test_refusal_cannot_expire_within_six_months(tenant: Tenant) -> None:
    number = mobile()
    status, body = await tenant.call(
        "PUT",
        f"/v1/dnc/{number}",
        json={
            "reason": "customer refused",
            "source": "customer_refusal",
            "expires_at": "2027-03-01T00:00:00+08:00",
        },
    )
    assert status == 400
    assert "183 days" in body["error"]["message"]
    status, _ = await tenant.call(
        "PUT",
        f"/v1/dnc/{number}",
        json={
            "reason": "customer refused",
            "source": "customer_refusal",
            "expires_at": "2028-01-01T00:00:00+08:00",
        },
    )
    assert status == 201


async def test_temporary_entry_ends_on_time(tenant: Tenant, clock: Clock) -> None:
    number = tenant.listed[4]
    await tenant.ok(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "call back after the holidays", "expires_at": "2027-06-01T00:00:00+08:00"},
    )
    clock.set("2027-05-31T10:00:00+08:00")
    # 2027 has no built-in calendar: enter a holiday of it and declare the year complete.
    await tenant.ok("PUT", "/v1/holidays/2027-01-01", json={"kind": "holiday", "name": "元旦"})
    await tenant.ok("PUT", "/v1/holidays/years/2027", "admin", json={"complete": True})
    try:
        assert codes(await tenant.precheck(tenant.marketing(number))) == {"dnc_listed"}
        clock.set("2027-06-01T10:00:00+08:00")
        assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    finally:
        await tenant.ok("PUT", "/v1/holidays/years/2027", "admin", json={"complete": False})
        await tenant.ok("DELETE", "/v1/holidays/2027-01-01")


async def import_csv(tenant: Tenant, text: str, query: str = "") -> tuple[int, Any]:
    status, body = await tenant.call(
        "POST",
        f"/v1/dnc/import{query}",
        data=text.encode(),
        headers={**bearer(tenant.tokens["supervisor"]), "Content-Type": "text/csv"},
    )
    return status, body


async def test_import_reports_every_bad_line_and_keeps_every_good_one(
    tenant: Tenant, db: Any
) -> None:
    good = [mobile() for _ in range(4)]
    await tenant.ok("PUT", f"/v1/dnc/{good[3]}", json={"reason": "already"})
    text = (
        "\n".join(
            [
                "number,reason,expires_at",
                good[0],
                "12345,too short",
                "",
                f"+86 {good[1][:3]} {good[1][3:7]} {good[1][7:]},asked twice",
                f"{good[2]},,2020-01-01",
                f"{good[2]},temporary,2030-01-01",
                good[0],
                good[3],
                "not a number",
                f"{good[1]},a,b,c",
            ]
        )
        + "\n"
    )
    status, body = await import_csv(tenant, text, "?source=crm-2026-11")
    assert status == 200, body
    assert body["added"] == 3
    assert body["already_listed"] == 2  # a duplicate within the file, and good[3]
    assert [(i["line"], i["error"][:20]) for i in body["invalid"]] == [
        (3, "not a valid mainland"),
        (6, "expires_at is in the"),
        (10, "not a valid mainland"),
        (11, "too many fields: exp"),
    ]
    assert body["invalid_count"] == 4
    row = await db.fetchrow(
        "SELECT * FROM dnc_entries WHERE number = $1 AND ended_at IS NULL", e164(good[2])
    )
    assert row["source"] == "import:crm-2026-11"
    assert row["reason"] == "temporary"
    assert row["expires_at"] is not None
    for number in good[:3]:
        assert "dnc_listed" in codes(await tenant.precheck(tenant.marketing(number)))


async def test_a_large_import_spans_read_chunks_and_both_insert_lanes(
    tenant: Tenant, db: Any
) -> None:
    # 30,000 lines (134 is a prefix only this test draws from) with a byte-order mark and
    # CRLF endings: well over one 256 KiB read, and numbers ending in odd and even digits
    # (the two insert lanes).
    numbers = sorted({f"+86134{random.randrange(10**8):08d}" for _ in range(30_000)})
    lines = ["number,reason", *[f"{n},bulk" for n in numbers], numbers[0], numbers[-1]]
    body = b"\xef\xbb\xbf" + "\r\n".join(lines).encode() + b"\r\n"
    spoiled = body.replace(f"{numbers[20_000]},bulk".encode(), b"\xff\xfe,bulk")
    status, error = await tenant.call(
        "POST",
        "/v1/dnc/import",
        data=spoiled,
        headers={**bearer(tenant.tokens["supervisor"]), "Content-Type": "text/csv"},
    )
    assert status == 400
    assert error["error"]["message"] == "line 20002: not UTF-8 text"
    status, report = await tenant.call(
        "POST",
        "/v1/dnc/import",
        data=body,
        headers={**bearer(tenant.tokens["supervisor"]), "Content-Type": "text/csv"},
    )
    assert status == 200, report
    assert (report["added"], report["already_listed"], report["invalid_count"]) == (
        len(numbers),
        2,
        0,
    )
    assert report["lines"] == len(lines)
    active = await db.fetchval(
        "SELECT count(*) FROM dnc_entries WHERE number = ANY($1) AND ended_at IS NULL", numbers
    )
    assert active == len(numbers)
    for number in (numbers[0], numbers[1], numbers[-1]):
        assert "dnc_listed" in codes(await tenant.precheck(tenant.marketing(number[3:])))


async def test_import_with_scope_all_blocks_callbacks(tenant: Tenant) -> None:
    number = mobile()
    status, body = await import_csv(tenant, f"{number}\n", "?scope=all")
    assert status == 200
    assert body["added"] == 1
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_import_refuses_other_content_types(tenant: Tenant) -> None:
    status, body = await tenant.call("POST", "/v1/dnc/import", json={"numbers": []})
    assert body["error"]["code"] == "unsupported_media_type"
    assert status == 415


async def test_export_streams_the_active_entries(tenant: Tenant, db: Any) -> None:
    number, removed = mobile(), mobile()
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "exported"})
    await tenant.ok("PUT", f"/v1/dnc/{removed}", json={"reason": "x"})
    await tenant.ok("DELETE", f"/v1/dnc/{removed}", json={"reason": "y"})
    resp = await tenant.client.get("/v1/dnc/export", headers=bearer(tenant.tokens["supervisor"]))
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    text = await resp.text()
    lines = text.splitlines()
    assert lines[0] == "number,scope,source,reason,created_at,expires_at"
    assert any(line.startswith(e164(number) + ",marketing,supervisor,exported") for line in lines)
    assert not any(line.startswith(e164(removed)) for line in lines)
    # The auditor's export is the same list, every number masked.
    resp = await tenant.client.get("/v1/dnc/export", headers=bearer(tenant.tokens["auditor"]))
    assert resp.status == 200
    masked = list(csv.reader(io.StringIO(await resp.text())))
    full = list(csv.reader(io.StringIO(text)))
    assert masked[0] == full[0]
    # Times and everything else as the supervisor's; numbers in free text masked too.
    reason = NumberMask().text
    assert [[mask_number(r[0]), *r[1:3], reason(r[3]), *r[4:]] for r in full[1:]] == masked[1:]
    assert f"{number[:3]}****{number[-4:]},marketing,supervisor,exported" in await resp.text()
    assert number not in await resp.text()
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE entity = 'dnc' AND action = 'export' "
            "AND actor = 'test-auditor'"
        )
        >= 1
    )


async def test_flushed_redis_denies_until_rebuilt_then_answers_correctly(
    tenant: Tenant,
) -> None:
    from gateway.appkeys import KEYS, REDIS

    listed, free = tenant.listed[5], tenant.listed[6]
    await tenant.ok("PUT", f"/v1/dnc/{listed}", json={"reason": "before the flush"})
    app = tenant.client.server.app
    keys = [k async for k in app[REDIS].scan_iter(match=app[KEYS].prefix + "dnc:*")]
    await app[REDIS].delete(*keys)
    assert codes(await tenant.precheck(tenant.marketing(free))) == {"gateway_degraded"}
    for _ in range(50):
        answer = await tenant.precheck(tenant.marketing(free))
        if answer["decision"] == "allow":
            break
        assert codes(answer) == {"gateway_degraded"}
        await asyncio.sleep(0.1)
    assert answer["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.marketing(listed))) == {"dnc_listed"}


async def test_values_the_database_cannot_hold_are_400(tenant: Tenant) -> None:
    number = mobile()
    for body, field in (
        ({"reason": "a\u0000b"}, "NUL"),
        ({"reason": "r", "expires_at": "9999-12-31T23:59:59-12:00"}, "expires_at"),
        ({"reason": "r", "expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"reason": "r", "scope": "everything"}, "scope"),
        ({"reason": ""}, "reason"),
    ):
        status, answer = await tenant.call("PUT", f"/v1/dnc/{number}", json=body)
        assert status == 400, body
        assert field in answer["error"]["message"]
    status, answer = await import_csv(tenant, f"{mobile()}\n1380\x0000000\n")
    assert status == 400
    assert "line 2" in answer["error"]["message"]


async def test_import_with_scope_all_widens_a_marketing_entry(tenant: Tenant, db: Any) -> None:
    number = mobile()
    await tenant.ok("PUT", f"/v1/dnc/{number}", json={"reason": "sales refused"})
    status, body = await import_csv(tenant, f"{number}\n{number}\n", "?scope=all")
    assert status == 200
    assert (body["added"], body["already_listed"]) == (1, 1)
    history = await tenant.ok("GET", f"/v1/dnc/{number}")
    assert [e["scope"] for e in history["entries"]] == ["marketing", "all"]
    assert history["entries"][0]["end_reason"] == "superseded by a new entry"
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}
