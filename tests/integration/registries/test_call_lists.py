"""Approved call lists: uploads as JSON or CSV, replacement, and invalid entries."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.integration.tenant import Tenant, codes, e164, mobile
from tests.support.registries import audit_entries, refused, send, uid

pytestmark = pytest.mark.asyncio


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


async def test_a_csv_list_that_is_neither_utf8_nor_gb18030_is_400(sup: Tenant) -> None:
    answer = await send(
        sup, "PUT", f"/v1/lists/{uid('l')}?provenance=p", b"13812345678\n\xff\n", "text/csv"
    )
    refused(answer, 400, "invalid_request", "line 2")


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
