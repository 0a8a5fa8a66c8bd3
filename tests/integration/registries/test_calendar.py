"""The calendar: days entered over the built-in calendar, and years declared complete."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from tests.integration.tenant import Tenant, codes
from tests.support.clock import Clock
from tests.support.headers import bearer
from tests.support.registries import audit_entries, eventually, refused

pytestmark = pytest.mark.asyncio


async def test_a_calendar_entry_is_201_new_and_200_replaced(sup: Tenant) -> None:
    day = "2031-10-08"
    try:
        status, body = await sup.call(
            "PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"}
        )
        assert status == 201, body
        assert (body["day"], body["kind"], body["name"], body["updated_by"]) == (
            day,
            "holiday",
            "国庆节",
            "test-supervisor",
        )
        status, body = await sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "workday"})
        assert status == 200, body
        assert (body["kind"], body["name"]) == ("workday", None)
        listed = await sup.ok("GET", "/v1/holidays?year=2031", "auditor")
        assert [(h["day"], h["kind"]) for h in listed["items"]] == [(day, "workday")]
        assert day not in {
            h["day"] for h in (await sup.ok("GET", "/v1/holidays?year=2030"))["items"]
        }
        assert day in {h["day"] for h in (await sup.ok("GET", "/v1/holidays"))["items"]}
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_calendar_entry_is_removed(sup: Tenant) -> None:
    day = "2034-05-02"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "restday", "name": "劳动节调休"})
    status, body = await sup.call("DELETE", f"/v1/holidays/{day}")
    assert (status, body["day"], body["kind"]) == (200, day, "restday"), body
    assert (await sup.ok("GET", "/v1/holidays?year=2034"))["items"] == []
    refused(await sup.call("DELETE", f"/v1/holidays/{day}"), 404, "not_found")


@pytest.mark.parametrize(
    "day", ["2031-02-30", "tomorrow", "20311001", "2031-1-1", "2031-W40-3", "２０３１-10-01"]
)
async def test_a_calendar_day_is_written_yyyy_mm_dd(sup: Tenant, day: str) -> None:
    refused(
        await sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"}),
        400,
        "invalid_request",
        "date",
    )
    refused(await sup.call("DELETE", f"/v1/holidays/{day}"), 400, "invalid_request", "date")


@pytest.mark.parametrize("year", ["abc", "1800", "3000", "20.5"])
async def test_the_calendar_year_must_be_a_year(sup: Tenant, year: str) -> None:
    refused(await sup.call("GET", f"/v1/holidays?year={year}"), 400, "invalid_request", "year")


async def test_concurrent_settings_of_a_new_day_make_one_201(sup: Tenant, db: Any) -> None:
    day = "2032-01-05"
    try:
        answers = await asyncio.gather(
            *(sup.call("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"}) for _ in range(6))
        )
        assert sorted(status for status, _ in answers) == [200, 200, 200, 200, 200, 201], answers
        entries = await audit_entries(db, "holiday", day)
        assert sorted(e["action"] for e in entries) == ["create"] + ["update"] * 5
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_year_without_a_built_in_calendar_becomes_available(
    tenant: Tenant, clock: Clock
) -> None:
    # 2029 has no built-in calendar; keep the tenant's campaign running through it.
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    callees = iter(tenant.listed)

    async def check(at: str) -> set[str]:
        clock.set(at)
        return codes(await tenant.precheck(tenant.marketing(next(callees))))

    monday = "2029-03-05T10:00:00+08:00"
    assert await check(monday) == {"calendar_unavailable"}
    try:
        await tenant.ok(
            "PUT", "/v1/holidays/2029-10-01", json={"kind": "holiday", "name": "国庆节"}
        )
        assert await check(monday) == {"calendar_unavailable"}  # not declared complete
        await tenant.ok("PUT", "/v1/holidays/years/2029", "admin", json={"complete": True})
        assert await check(monday) == set()
        assert await check("2029-10-01T10:00:00+08:00") == {"holiday_blocked"}
        # The other days of the year go by the weekday: a Saturday is a rest day.
        assert await check("2029-03-10T09:30:00+08:00") == {"outside_calling_hours"}
        assert await check("2029-03-10T10:30:00+08:00") == set()
    finally:
        await tenant.ok("PUT", "/v1/holidays/years/2029", "admin", json={"complete": False})
        await tenant.ok("DELETE", "/v1/holidays/2029-10-01")
    assert await check(monday) == {"calendar_unavailable"}


async def test_a_calendar_entry_wins_over_the_built_in_calendar(tenant: Tenant) -> None:
    wednesday, saturday = "2026-12-02", "2026-12-05"
    callees = iter(tenant.listed)

    async def simulate(at: str) -> set[str]:
        body = {**tenant.marketing(next(callees)), "at": at}
        return codes(await tenant.ok("POST", "/v1/precheck/simulate", "auditor", json=body))

    assert await simulate(f"{wednesday}T10:00:00+08:00") == set()
    assert await simulate(f"{saturday}T09:30:00+08:00") == {"outside_calling_hours"}
    try:
        await tenant.ok("PUT", f"/v1/holidays/{wednesday}", json={"kind": "holiday"})
        await tenant.ok("PUT", f"/v1/holidays/{saturday}", json={"kind": "workday"})
        assert await simulate(f"{wednesday}T10:00:00+08:00") == {"holiday_blocked"}
        assert await simulate(f"{saturday}T09:30:00+08:00") == set()
    finally:
        await tenant.ok("DELETE", f"/v1/holidays/{wednesday}")
        await tenant.ok("DELETE", f"/v1/holidays/{saturday}")
    assert await simulate(f"{wednesday}T10:00:00+08:00") == set()


# --- calendar years ----------------------------------------------------------------------


async def declare(t: Tenant, year: int, complete: bool, **more: Any) -> tuple[int, Any]:
    answer: tuple[int, Any] = await t.call(
        "PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": complete, **more}
    )
    return answer


def year_item(listing: dict[str, Any], year: int) -> dict[str, Any] | None:
    found = [item for item in listing["items"] if item["year"] == year]
    return found[0] if found else None


async def test_one_holiday_entered_does_not_cover_its_year_until_declared_complete(
    tenant: Tenant,
) -> None:
    # 2027 has no built-in calendar; keep the tenant's campaign running through it.
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    callees = iter(tenant.listed)

    async def simulate(at: str) -> set[str]:
        body = {**tenant.marketing(next(callees)), "at": at}
        return codes(await tenant.ok("POST", "/v1/precheck/simulate", "auditor", json=body))

    spring, monday, saturday = "2027-02-08", "2027-03-01T10:00:00+08:00", "2027-03-06"
    try:
        await tenant.ok("PUT", f"/v1/holidays/{spring}", json={"kind": "holiday", "name": "春节"})
        # The year's other statutory holidays are not entered: nothing in it can be judged.
        assert await simulate(monday) == {"calendar_unavailable"}
        assert await simulate(f"{spring}T10:00:00+08:00") == {"calendar_unavailable"}
        listing = await tenant.ok("GET", "/v1/holidays/years", "auditor")
        item = year_item(listing, 2027)
        assert item is not None
        assert (item["covered"], item["covered_by"], item["entries"], item["holidays"]) == (
            False,
            None,
            1,
            1,
        )

        status, body = await declare(tenant, 2027, True, note="国办发明电〔2026〕X号")
        assert status in (200, 201), body  # 200 when an earlier test declared it too
        assert (body["year"], body["complete"], body["covered"], body["covered_by"]) == (
            2027,
            True,
            True,
            "declared",
        )
        assert (body["entries"], body["holidays"], body["declared_by"]) == (1, 1, "test-admin")
        assert body["note"] == "国办发明电〔2026〕X号"
        assert await simulate(f"{spring}T10:00:00+08:00") == {"holiday_blocked"}
        assert await simulate(monday) == set()
        # Days without an entry go by the weekday: a Saturday has rest-day hours.
        assert await simulate(f"{saturday}T09:30:00+08:00") == {"outside_calling_hours"}
        assert await simulate(f"{saturday}T10:30:00+08:00") == set()

        status, body = await declare(tenant, 2027, False)
        assert status == 200, body
        assert (body["complete"], body["covered"], body["covered_by"]) == (False, False, None)
        assert await simulate(monday) == {"calendar_unavailable"}
    finally:
        await declare(tenant, 2027, False)
        await tenant.call("DELETE", f"/v1/holidays/{spring}")


async def test_a_year_is_declared_201_then_200_and_audited(sup: Tenant, db: Any) -> None:
    year = 2150 + random.randint(0, 49)
    day = f"{year}-10-01"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"})
    try:
        first = await declare(sup, year, True)
        assert first[0] == 201, first
        again = await declare(sup, year, False, note="schedule revised")
        assert again[0] == 200, again
        entries = await audit_entries(db, "holiday_year", str(year))
        assert [(e["action"], e["actor"]) for e in entries] == [
            ("create", "test-admin"),
            ("update", "test-admin"),
        ]
        assert entries[0]["before"] is None
        assert (entries[0]["after"]["complete"], entries[1]["before"]["complete"]) == (True, True)
        assert (entries[1]["after"]["complete"], entries[1]["after"]["note"]) == (
            False,
            "schedule revised",
        )
    finally:
        await declare(sup, year, False)
        await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_a_year_without_a_holiday_entered_cannot_be_declared_complete(
    sup: Tenant, db: Any
) -> None:
    year = 2100 + random.randint(0, 49)
    message = refused(await declare(sup, year, True), 409, "invalid_state", "year")
    assert f"no holiday of {year} is entered" in message
    # Working weekends alone are not a holiday schedule either.
    day = f"{year}-02-03"
    await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "workday"})
    try:
        refused(await declare(sup, year, True), 409, "invalid_state", "year")
        assert await db.fetchval("SELECT count(*) FROM holiday_years WHERE year = $1", year) == 0
        assert await audit_entries(db, "holiday_year", str(year)) == []
        # Withdrawing, or declaring a year the built-in calendar covers, needs no entry.
        assert (await declare(sup, year, False))[0] == 201
        status, body = await declare(sup, 2025, True)
        assert status in (200, 201), body
        assert (body["covered"], body["covered_by"], body["entries"]) == (True, "built_in", 0)
    finally:
        await sup.call("DELETE", f"/v1/holidays/{day}")
        await declare(sup, 2025, False)


async def test_the_last_holiday_of_a_declared_year_stays_until_it_is_undeclared(
    sup: Tenant,
) -> None:
    year = 2060 + random.randint(0, 39)
    new_year, labour_day = f"{year}-01-01", f"{year}-05-01"
    await sup.ok("PUT", f"/v1/holidays/{new_year}", json={"kind": "holiday", "name": "元旦"})
    await sup.ok("PUT", f"/v1/holidays/{labour_day}", json={"kind": "holiday", "name": "劳动节"})
    try:
        assert (await declare(sup, year, True))[0] == 201
        await sup.ok("DELETE", f"/v1/holidays/{labour_day}")  # another holiday remains
        refused(await sup.call("DELETE", f"/v1/holidays/{new_year}"), 409, "invalid_state")
        answer = await sup.call("PUT", f"/v1/holidays/{new_year}", json={"kind": "workday"})
        message = refused(answer, 409, "invalid_state", str(year))
        assert f"/v1/holidays/years/{year}" in message
        entries = await sup.ok("GET", f"/v1/holidays?year={year}")
        assert [(h["day"], h["kind"]) for h in entries["items"]] == [(new_year, "holiday")]
        await declare(sup, year, False)
        await sup.ok("DELETE", f"/v1/holidays/{new_year}")
    finally:
        await declare(sup, year, False)
        await sup.call("DELETE", f"/v1/holidays/{new_year}")
        await sup.call("DELETE", f"/v1/holidays/{labour_day}")


async def test_concurrent_declaration_and_removal_leave_no_empty_declared_year(
    sup: Tenant, db: Any
) -> None:
    year = 2040 + random.randint(0, 19)
    day = f"{year}-10-01"
    for _ in range(3):
        await sup.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday"})
        try:
            await asyncio.gather(
                declare(sup, year, True), sup.call("DELETE", f"/v1/holidays/{day}")
            )
            complete = await db.fetchval("SELECT complete FROM holiday_years WHERE year = $1", year)
            left = await db.fetchval("SELECT count(*) FROM holidays WHERE day::text = $1", day)
            assert not (complete and left == 0)
        finally:
            await declare(sup, year, False)
            await sup.call("DELETE", f"/v1/holidays/{day}")


async def test_the_years_list_says_what_covers_each_year(sup: Tenant, clock: Clock) -> None:
    listing = await sup.ok("GET", "/v1/holidays/years", "supervisor")
    assert listing["covered_until"] is not None
    assert listing["covered_until"] >= "2026-12-31"
    built_in = [i for i in listing["items"] if i["covered_by"] == "built_in"]
    assert [i["year"] for i in built_in] == list(range(2004, 2027))
    assert all(i["covered"] for i in built_in)
    assert [i["year"] for i in listing["items"]] == sorted(i["year"] for i in listing["items"])
    clock.set("2003-06-02T10:00:00+08:00")  # before the built-in calendar
    assert (await sup.ok("GET", "/v1/holidays/years", "auditor"))["covered_until"] is None


@pytest.mark.parametrize("role", ["supervisor", "auditor", "dialer"])
async def test_only_an_admin_may_declare_a_year(sup: Tenant, role: str) -> None:
    refused(
        await sup.call("PUT", "/v1/holidays/years/2027", role, json={"complete": True}),
        403,
        "forbidden",
    )


@pytest.mark.parametrize("year", ["abc", "1969", "2200", "20271", "027", "２０２７", "-2027"])
async def test_a_declared_year_must_be_from_1970_to_2199(sup: Tenant, year: str) -> None:
    answer = await sup.call("PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": True})
    refused(answer, 400, "invalid_request", "year")


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "complete"), ({"complete": "yes"}, "complete"), ({"complete": True, "x": 1}, "x")],
)
async def test_a_declaration_body_is_checked(sup: Tenant, body: Any, field: str) -> None:
    answer = await sup.call("PUT", "/v1/holidays/years/2027", "admin", json=body)
    refused(answer, 400, "invalid_request", field)


async def test_a_declaration_reaches_another_process_within_a_second(
    tenant: Tenant, make_client: Any, settings: Any, clock: Clock
) -> None:
    await tenant.ok(
        "PATCH", f"/v1/campaigns/{tenant.campaign}", json={"ends_at": "2031-01-01T00:00:00+08:00"}
    )
    other = await make_client(settings, clock)
    check = {**tenant.marketing(), "at": "2027-03-01T10:00:00+08:00"}

    async def judged_on_other() -> set[str]:
        resp = await other.post(
            "/v1/precheck/simulate", json=check, headers=bearer(tenant.tokens["auditor"])
        )
        assert resp.status == 200, await resp.text()
        return codes(await resp.json())

    async def other_sees(expected: set[str]) -> bool:
        return await judged_on_other() == expected

    day = "2027-10-01"
    await tenant.ok("PUT", f"/v1/holidays/{day}", json={"kind": "holiday", "name": "国庆节"})
    try:
        await eventually(lambda: other_sees({"calendar_unavailable"}))
        await declare(tenant, 2027, True)
        await eventually(lambda: other_sees(set()), within=1.0)
        await declare(tenant, 2027, False)
        await eventually(lambda: other_sees({"calendar_unavailable"}), within=1.0)
    finally:
        await declare(tenant, 2027, False)
        await tenant.call("DELETE", f"/v1/holidays/{day}")


async def test_the_openapi_document_lists_the_calendar_year_routes(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).json()
    put = doc["paths"]["/v1/holidays/years/{year}"]["put"]
    assert put["x-roles"] == ["admin"]
    assert {"200", "400", "401", "403", "409", "413", "503"} <= set(put["responses"])
    assert put["responses"]["409"]["x-error-codes"] == ["invalid_state"]
    listing = doc["paths"]["/v1/holidays/years"]["get"]
    assert listing["x-roles"] == ["admin", "auditor", "supervisor"]
    assert (
        "YearsOut" in listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    )
    for method in ("put", "delete"):
        codes_409 = doc["paths"]["/v1/holidays/{day}"][method]["responses"]["409"]
        assert "invalid_state" in codes_409["x-error-codes"]
