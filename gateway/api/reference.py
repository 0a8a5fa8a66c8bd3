"""Supervisor routes for approved call lists, staff numbers and the calendar, and the
admin's policy document and declarations of a year's calendar as complete."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.api.changes import audited, check_text, registry_change
from gateway.api.csvlines import body_lines
from gateway.api.registries import EDITORS, READERS, Items, PhoneText, path_id
from gateway.api.routing import (
    Routes,
    convert_query,
    decode,
    json_response,
    principal,
    read_body,
    read_json,
)
from gateway.appkeys import CLOCK, PG, REGISTRIES, SETTINGS
from gateway.errors import (
    Conflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    PolicyBelowFloor,
    UnsupportedMediaType,
)
from gateway.policy import PolicyDocument, normalize_number, validate_policy
from gateway.policy.context import zone
from gateway.policy.days import (
    FIRST_YEAR,
    LAST_YEAR,
    CoveredBy,
    built_in_covers,
    built_in_years,
    covered_by,
    covered_until,
)
from gateway.policy.numbers import CHINA_TZ
from gateway.store import rows
from gateway.types import Conn

routes = Routes()
MAX_REPORTED_INVALID = 1000


# --- approved call lists ------------------------------------------------------------------


class ListIn(msgspec.Struct, forbid_unknown_fields=True):
    provenance: Annotated[str, Meta(min_length=1, max_length=500)]
    # Any text: what is not a number is reported by position and left out.
    numbers: list[str]


class InvalidLine(msgspec.Struct):
    line: int
    value: str
    error: str


class ListOut(msgspec.Struct):
    list_id: str
    provenance: str
    approved_by: str
    size: int
    invalid: list[InvalidLine]
    invalid_count: int


class ProvenanceQuery(msgspec.Struct):
    provenance: Annotated[str, Meta(min_length=1, max_length=500)]


class _Collected:
    def __init__(self) -> None:
        self.numbers: list[tuple[str]] = []
        self.invalid: list[InvalidLine] = []
        self.invalid_count = 0

    def add_csv(self, line: int, raw: str) -> None:
        """A CSV line: the number is the first column; a blank line is skipped, and so is
        a header on line 1."""
        value = raw.split(",", 1)[0].strip().strip('"')
        if not value:
            return
        if line == 1 and value.lower() in ("number", "numbers", "phone", "callee"):
            return
        self.add(line, value)

    def add(self, line: int, value: str) -> None:
        e164 = normalize_number(value) if len(value) <= 100 else None
        if e164 is None:
            self.invalid_count += 1
            if len(self.invalid) < MAX_REPORTED_INVALID:
                self.invalid.append(InvalidLine(line, value[:40], "not a valid number"))
            return
        self.numbers.append((e164,))


@routes.route(
    "GET",
    "/v1/lists",
    roles=READERS,
    response=Items,
    summary="Approved call lists: provenance, who approved them, size",
)
async def list_lists(request: web.Request) -> web.StreamResponse:
    found = await rows.fetch_all(request.app[PG], "call_lists", ["list_id"])
    return json_response(Items([rows.as_dict(r) for r in found]))


@routes.route(
    "PUT",
    "/v1/lists/{list_id}",
    roles=EDITORS,
    body=ListIn,
    response=ListOut,
    query=("provenance",),
    body_content_types=("application/json", "text/csv"),
    summary="Replace an approved call list (JSON, or text/csv with ?provenance=); "
    "201 new, 200 replaced; invalid numbers are reported and left out",
)
async def put_list(request: web.Request) -> web.StreamResponse:
    list_id = path_id(request, "list_id")
    collected = _Collected()
    if request.content_type == "text/csv":
        provenance = convert_query(request, ProvenanceQuery).provenance
        check_text({"provenance": provenance})
        async for number, line in body_lines(request, request.app[SETTINGS].max_csv_bytes):
            collected.add_csv(number, line)
    elif request.content_type in ("application/json", ""):
        body = await read_json(request, ListIn)
        provenance = body.provenance
        check_text({"provenance": provenance})
        for i, raw in enumerate(body.numbers, 1):
            collected.add(i, raw.strip())
    else:
        raise UnsupportedMediaType(f"content type {request.content_type}: send JSON or text/csv")
    approved_by = principal(request).name

    async def change(conn: Conn) -> tuple[int, ListOut]:
        # Insert first, so two uploads of a new list cannot both take it for new.
        created = await conn.fetchval(
            "INSERT INTO call_lists (list_id, provenance, approved_by, size) "
            "VALUES ($1, $2, $3, 0) ON CONFLICT (list_id) DO NOTHING RETURNING true",
            list_id,
            provenance,
            approved_by,
        )
        before = None
        if not created:
            before = await rows.fetch_one(conn, "call_lists", {"list_id": list_id}, lock=True)
        await conn.execute("CREATE TEMP TABLE incoming_numbers (number text) ON COMMIT DROP")
        await conn.copy_records_to_table("incoming_numbers", records=collected.numbers)
        await conn.execute("DELETE FROM call_list_numbers WHERE list_id = $1", list_id)
        size = await conn.fetchval(
            "WITH ins AS (INSERT INTO call_list_numbers (list_id, number) "
            "SELECT DISTINCT $1::text, number FROM incoming_numbers RETURNING 1) "
            "SELECT count(*) FROM ins",
            list_id,
        )
        row = await conn.fetchrow(
            "UPDATE call_lists SET provenance = $2, approved_by = $3, size = $4, "
            "updated_at = now() WHERE list_id = $1 RETURNING *",
            list_id,
            provenance,
            approved_by,
            size,
        )
        assert row is not None
        after = rows.as_dict(row)
        await audited(
            conn,
            request,
            "create" if created else "replace",
            "call_list",
            list_id,
            rows.as_dict(before) if before is not None else None,
            after,
        )
        out = ListOut(
            list_id, provenance, approved_by, size, collected.invalid, collected.invalid_count
        )
        return (201 if created else 200), out

    status, out = await registry_change(request, f"list:{list_id}", change)
    return json_response(out, status=status)


# --- staff numbers ------------------------------------------------------------------------


class StaffIn(msgspec.Struct, forbid_unknown_fields=True):
    number: PhoneText
    note: Annotated[str, Meta(max_length=200)] | None = None


@routes.route(
    "GET",
    "/v1/staff-numbers",
    roles=READERS,
    response=Items,
    summary="Employee, agent and branch numbers (never callable as customers)",
)
async def list_staff(request: web.Request) -> web.StreamResponse:
    found = await rows.fetch_all(request.app[PG], "staff_numbers", ["number"])
    return json_response(Items([rows.as_dict(r) for r in found]))


def _staff_number(raw: str) -> str:
    e164 = normalize_number(raw)
    if e164 is None:
        raise InvalidRequest(f"number: {raw!r} is not a valid number")
    return e164


@routes.route(
    "POST",
    "/v1/staff-numbers",
    roles=EDITORS,
    body=StaffIn,
    status=201,
    summary="Register an employee, agent or branch number",
    errors=(Conflict,),
)
async def add_staff(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, StaffIn)
    number = _staff_number(body.number)
    check_text({"note": body.note})

    async def change(conn: Conn) -> dict[str, Any]:
        row = await rows.insert(
            conn,
            "staff_numbers",
            {
                "number": number,
                "note": body.note,
                "created_by": principal(request).name,
            },
        )
        if row is None:
            raise Conflict(f"staff number {number} exists")
        after = rows.as_dict(row)
        await audited(conn, request, "create", "staff_number", number, None, after)
        return after

    return json_response(await registry_change(request, "staff", change), status=201)


@routes.route(
    "DELETE",
    "/v1/staff-numbers/{number}",
    roles=EDITORS,
    summary="Remove a staff number",
    errors=(
        InvalidRequest,
        NotFound,
    ),
)
async def delete_staff(request: web.Request) -> web.StreamResponse:
    number = _staff_number(request.match_info["number"])
    return await _remove(
        request,
        "staff_numbers",
        {"number": number},
        "staff_number",
        "staff",
        f"staff number {number} is not registered",
    )


async def _remove(
    request: web.Request,
    table: str,
    keys: dict[str, Any],
    entity: str,
    part: str,
    missing: str,
) -> web.StreamResponse:
    """Delete one registry row, audited; 404 with `missing` when there is none."""
    entity_id = "/".join(str(v) for v in keys.values())

    async def change(conn: Conn) -> dict[str, Any]:
        row = await rows.delete_one(conn, table, keys)
        if row is None:
            raise NotFound(missing)
        before = rows.as_dict(row)
        await audited(conn, request, "delete", entity, entity_id, before, None)
        return before

    return json_response(await registry_change(request, part, change))


# --- holidays -----------------------------------------------------------------------------


class HolidayIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["holiday", "workday", "restday"]
    name: Annotated[str, Meta(max_length=100)] | None = None


class YearQuery(msgspec.Struct):
    year: Annotated[int, Meta(ge=1900, le=2200)] | None = None


class YearIn(msgspec.Struct, forbid_unknown_fields=True):
    complete: bool
    note: Annotated[str, Meta(max_length=200)] | None = None


class YearOut(msgspec.Struct, kw_only=True):
    """A year's calendar: whether checks on its days can be judged, and why."""

    year: int
    covered: bool
    covered_by: CoveredBy | None  # the built-in calendar wins over a declaration
    complete: bool | None  # the admin's declaration; None when never declared
    entries: int  # calendar entries (PUT /v1/holidays/{day}) in the year
    holidays: int  # of those, days of kind holiday
    declared_by: str | None
    declared_at: datetime | None
    note: str | None


class YearsOut(msgspec.Struct, kw_only=True):
    covered_until: date | None  # the last day of the covered run from today's year on
    items: list[YearOut]


# Calendar changes of one year wait for each other, so a declaration and the removal of
# the year's last holiday cannot both pass their checks.
_YEAR_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gateway.holiday_year'), $1)"
_COUNTS = (
    "SELECT extract(year FROM day)::int AS year, count(*) AS entries, "
    "count(*) FILTER (WHERE kind = 'holiday') AS holidays FROM holidays"
)
_IN_YEAR = " WHERE day >= make_date($1, 1, 1) AND day < make_date($1 + 1, 1, 1)"


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _year(raw: str) -> int:
    if not (len(raw) == 4 and raw.isascii() and raw.isdigit()) or not (
        FIRST_YEAR <= int(raw) <= LAST_YEAR
    ):
        raise InvalidRequest(f"year: {raw!r} is not a year from {FIRST_YEAR} to {LAST_YEAR}")
    return int(raw)


def _year_out(
    year: int, declared: Mapping[str, Any] | None, counts: Mapping[str, Any] | None
) -> YearOut:
    complete = None if declared is None else bool(declared["complete"])
    by = covered_by(year, {year} if complete else ())
    return YearOut(
        year=year,
        covered=by is not None,
        covered_by=by,
        complete=complete,
        entries=0 if counts is None else counts["entries"],
        holidays=0 if counts is None else counts["holidays"],
        declared_by=None if declared is None else declared["declared_by"],
        declared_at=None if declared is None else declared["declared_at"],
        note=None if declared is None else declared["note"],
    )


async def _keeps_a_holiday(conn: Conn, year: int) -> None:
    """Refuse a change that leaves a declared year outside the built-in calendar with no
    holiday entry: the year would stay covered with every day judged by the weekday."""
    if built_in_covers(year):
        return
    if not await conn.fetchval("SELECT complete FROM holiday_years WHERE year = $1", year):
        return
    holidays = await conn.fetchval(
        "SELECT count(*) FROM holidays" + _IN_YEAR + " AND kind = 'holiday'", year
    )
    if holidays == 0:
        raise InvalidState(
            f"{year} is declared complete and this is its last holiday entry: declare "
            f"the year incomplete first (PUT /v1/holidays/years/{year})"
        )


def _day(raw: str) -> date:
    # fromisoformat alone would also take 20261001 and 2026-W40-4.
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as e:
        raise InvalidRequest(f"date: {raw!r} is not YYYY-MM-DD") from e


@routes.route(
    "GET",
    "/v1/holidays/years",
    roles=READERS,
    response=YearsOut,
    summary="Each year's calendar: covered or not, by the built-in calendar or a "
    "declaration, and its entries",
)
async def list_years(request: web.Request) -> web.StreamResponse:
    async with (
        request.app[PG].acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
    ):
        declared = {r["year"]: r for r in await conn.fetch("SELECT * FROM holiday_years")}
        counts = {r["year"]: r for r in await conn.fetch(_COUNTS + " GROUP BY 1")}
    years = sorted({*built_in_years(), *declared, *counts})
    complete = {y for y, r in declared.items() if r["complete"]}
    today = request.app[CLOCK]().astimezone(zone(CHINA_TZ)).date()
    return json_response(
        YearsOut(
            covered_until=covered_until(today, complete),
            items=[_year_out(y, declared.get(y), counts.get(y)) for y in years],
        )
    )


@routes.route(
    "PUT",
    "/v1/holidays/years/{year}",
    roles=(),
    body=YearIn,
    response=YearOut,
    summary="Declare a year's holiday schedule entered in full (admin), or withdraw "
    "that; 201 first declaration, 200 changed. A year outside the built-in calendar "
    "with no holiday entry cannot be declared complete (409)",
    errors=(InvalidState,),
)
async def put_year(request: web.Request) -> web.StreamResponse:
    year = _year(request.match_info["year"])
    body = await read_json(request, YearIn)
    check_text({"note": body.note})

    async def change(conn: Conn) -> tuple[int, YearOut]:
        await conn.execute(_YEAR_LOCK, year)
        before = await rows.fetch_one(conn, "holiday_years", {"year": year}, lock=True)
        counts = await conn.fetchrow(_COUNTS + _IN_YEAR + " GROUP BY 1", year)
        if body.complete and not built_in_covers(year) and not (counts and counts["holidays"]):
            raise InvalidState(
                f"year: no holiday of {year} is entered; enter the State Council's "
                f"schedule for {year} (PUT /v1/holidays/{{day}}) before declaring it complete"
            )
        row = await conn.fetchrow(
            "INSERT INTO holiday_years (year, complete, note, declared_by) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (year) DO UPDATE SET "
            "complete = EXCLUDED.complete, note = EXCLUDED.note, "
            "declared_by = EXCLUDED.declared_by, declared_at = now() RETURNING *",
            year,
            body.complete,
            body.note,
            principal(request).name,
        )
        assert row is not None
        await audited(
            conn,
            request,
            "update" if before is not None else "create",
            "holiday_year",
            str(year),
            rows.as_dict(before) if before is not None else None,
            rows.as_dict(row),
        )
        return (200 if before is not None else 201), _year_out(year, row, counts)

    status, out = await registry_change(request, "holidays", change)
    return json_response(out, status=status)


@routes.route(
    "GET",
    "/v1/holidays",
    roles=READERS,
    response=Items,
    query=("year",),
    summary="Operator calendar entries (they win over the built-in calendar)",
)
async def list_holidays(request: web.Request) -> web.StreamResponse:
    year = convert_query(request, YearQuery).year
    if year is None:
        found = await request.app[PG].fetch("SELECT * FROM holidays ORDER BY day")
    else:
        found = await request.app[PG].fetch(
            "SELECT * FROM holidays WHERE day >= make_date($1, 1, 1) "
            "AND day < make_date($1 + 1, 1, 1) ORDER BY day",
            year,
        )
    return json_response(Items([rows.as_dict(r) for r in found]))


@routes.route(
    "PUT",
    "/v1/holidays/{day}",
    roles=EDITORS,
    body=HolidayIn,
    summary="Set a day's type; 201 new, 200 replaced; 409 invalid_state when it would "
    "leave a year declared complete with no holiday",
    errors=(Conflict, InvalidState),
)
async def put_holiday(request: web.Request) -> web.StreamResponse:
    day = _day(request.match_info["day"])
    body = await read_json(request, HolidayIn)
    check_text({"name": body.name})

    async def change(conn: Conn) -> tuple[int, dict[str, Any]]:
        await conn.execute(_YEAR_LOCK, day.year)
        # Insert first, so two settings of a new day cannot both take it for new; an
        # existing entry is locked and updated (and inserted again if it was just removed).
        before = row = None
        for _ in range(3):
            row = await conn.fetchrow(
                "INSERT INTO holidays (day, kind, name, updated_by) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (day) DO NOTHING RETURNING *",
                day,
                body.kind,
                body.name,
                principal(request).name,
            )
            if row is not None:
                break
            before = await rows.fetch_one(conn, "holidays", {"day": day}, lock=True)
            if before is not None:
                row = await conn.fetchrow(
                    "UPDATE holidays SET kind = $2, name = $3, updated_by = $4, "
                    "updated_at = now() WHERE day = $1 RETURNING *",
                    day,
                    body.kind,
                    body.name,
                    principal(request).name,
                )
                break
        if row is None:
            raise Conflict(f"calendar entry for {day.isoformat()} is changing; try again")
        if body.kind != "holiday":
            await _keeps_a_holiday(conn, day.year)
        after = rows.as_dict(row)
        await audited(
            conn,
            request,
            "update" if before is not None else "create",
            "holiday",
            day.isoformat(),
            rows.as_dict(before) if before is not None else None,
            after,
        )
        return (200 if before is not None else 201), after

    status, after = await registry_change(request, "holidays", change)
    return json_response(after, status=status)


@routes.route(
    "DELETE",
    "/v1/holidays/{day}",
    roles=EDITORS,
    summary="Remove an operator calendar entry; 409 invalid_state for the last holiday "
    "of a year declared complete",
    errors=(
        InvalidRequest,
        NotFound,
        InvalidState,
    ),
)
async def delete_holiday(request: web.Request) -> web.StreamResponse:
    day = _day(request.match_info["day"])

    async def change(conn: Conn) -> dict[str, Any]:
        await conn.execute(_YEAR_LOCK, day.year)
        row = await rows.delete_one(conn, "holidays", {"day": day})
        if row is None:
            raise NotFound(f"no calendar entry for {day.isoformat()}")
        await _keeps_a_holiday(conn, day.year)
        before = rows.as_dict(row)
        await audited(conn, request, "delete", "holiday", day.isoformat(), before, None)
        return before

    return json_response(await registry_change(request, "holidays", change))


# --- policy -------------------------------------------------------------------------------


@routes.route(
    "GET",
    "/v1/policy",
    roles=READERS,
    response=PolicyDocument,
    summary="The policy document in force: hours, frequency caps, retention",
)
async def get_policy(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[REGISTRIES].current.policy)


@routes.route(
    "PUT",
    "/v1/policy",
    roles=(),
    body=PolicyDocument,
    response=PolicyDocument,
    summary="Replace the policy document (admin); a setting past a regulatory "
    "floor is 400 policy_below_floor",
    errors=(PolicyBelowFloor,),
)
async def put_policy(request: web.Request) -> web.StreamResponse:
    raw = await read_body(request, request.app[SETTINGS].max_json_bytes)
    doc = decode(raw, PolicyDocument)
    problems = validate_policy(doc)
    malformed = [p for p in problems if not p.below_floor]
    if malformed:
        raise InvalidRequest("; ".join(f"{p.field}: {p.message}" for p in malformed))
    if problems:
        raise PolicyBelowFloor("; ".join(f"{p.field}: {p.message}" for p in problems))

    async def change(conn: Conn) -> None:
        before = await conn.fetchval("SELECT document FROM policy_document")
        document = msgspec.to_builtins(doc)
        await conn.execute(
            "INSERT INTO policy_document (id, document, updated_by) VALUES (true, $1, $2) "
            "ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document, "
            "updated_by = EXCLUDED.updated_by, updated_at = now()",
            document,
            principal(request).name,
        )
        await audited(
            conn,
            request,
            "replace",
            "policy",
            "policy",
            before or msgspec.to_builtins(request.app[REGISTRIES].current.policy),
            document,
        )

    await registry_change(request, "policy", change)
    return json_response(request.app[REGISTRIES].current.policy)
