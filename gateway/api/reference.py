"""Supervisor routes for approved call lists, staff numbers and the calendar, and the
admin's policy document and declarations of a year's calendar as complete."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.api.changes import check_text
from gateway.api.csvlines import body_lines, csv_text
from gateway.api.registries_routes import EDITORS, READERS, Items, PhoneText, path_id
from gateway.api.routing import (
    Routes,
    convert_query,
    decode,
    json_response,
    principal,
    read_body,
    read_json,
)
from gateway.appkeys import REGISTRY_SERVICE, SETTINGS
from gateway.core.errors import (
    Conflict,
    InvalidRequest,
    InvalidState,
    NotFound,
    PolicyBelowFloor,
    UnsupportedMediaType,
)
from gateway.policy import PolicyDocument, normalize_number, validate_policy
from gateway.policy.days import FIRST_YEAR, LAST_YEAR
from gateway.services.registries import YearOut, YearsOut

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
    return json_response(
        Items(await request.app[REGISTRY_SERVICE].all_rows("call_lists", ["list_id"]))
    )


@routes.route(
    "PUT",
    "/v1/lists/{list_id}",
    roles=EDITORS,
    body=ListIn,
    response=ListOut,
    query=("provenance",),
    query_type=ProvenanceQuery,
    also=((201, "a new list"),),
    body_content_types=("application/json", "text/csv"),
    summary="Replace an approved call list (JSON, or text/csv with ?provenance=); "
    "201 new, 200 replaced; invalid numbers are reported and left out",
)
async def put_list(request: web.Request) -> web.StreamResponse:
    list_id = path_id(request, "list_id")
    collected = _Collected()
    if request.content_type == "text/csv":
        text = csv_text(request)
        provenance = convert_query(request, ProvenanceQuery).provenance
        check_text({"provenance": provenance})
        async for number, line in body_lines(request, request.app[SETTINGS].max_csv_bytes, text):
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
    created, size = await request.app[REGISTRY_SERVICE].replace_list(
        approved_by, list_id, provenance, collected.numbers
    )
    out = ListOut(
        list_id, provenance, approved_by, size, collected.invalid, collected.invalid_count
    )
    return json_response(out, status=201 if created else 200)


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
    found = await request.app[REGISTRY_SERVICE].all_rows("staff_numbers", ["number"])
    return json_response(Items(found))


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
    added = await request.app[REGISTRY_SERVICE].add_staff(
        principal(request).name, number, body.note
    )
    return json_response(added, status=201)


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
    removed = await request.app[REGISTRY_SERVICE].remove_staff(principal(request).name, number)
    return json_response(removed)


# --- holidays -----------------------------------------------------------------------------


class HolidayIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["holiday", "workday", "restday"]
    name: Annotated[str, Meta(max_length=100)] | None = None


class YearQuery(msgspec.Struct):
    year: Annotated[int, Meta(ge=1900, le=2200)] | None = None


class YearIn(msgspec.Struct, forbid_unknown_fields=True):
    complete: bool
    note: Annotated[str, Meta(max_length=200)] | None = None


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _year(raw: str) -> int:
    if not (len(raw) == 4 and raw.isascii() and raw.isdigit()) or not (
        FIRST_YEAR <= int(raw) <= LAST_YEAR
    ):
        raise InvalidRequest(f"year: {raw!r} is not a year from {FIRST_YEAR} to {LAST_YEAR}")
    return int(raw)


def _day(raw: str) -> date:
    # fromisoformat alone would also take 20261001 and 2026-W40-4.
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        day = date.fromisoformat(raw)
    except ValueError as e:
        raise InvalidRequest(f"date: {raw!r} is not YYYY-MM-DD") from e
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise InvalidRequest(f"date: {raw!r} is out of range (years {FIRST_YEAR}-{LAST_YEAR})")
    return day


@routes.route(
    "GET",
    "/v1/holidays/years",
    roles=READERS,
    response=YearsOut,
    summary="Each year's calendar: covered or not, by the built-in calendar or a "
    "declaration, and its entries",
)
async def list_years(request: web.Request) -> web.StreamResponse:
    return json_response(await request.app[REGISTRY_SERVICE].years())


@routes.route(
    "PUT",
    "/v1/holidays/years/{year}",
    roles=(),
    body=YearIn,
    response=YearOut,
    also=((201, "the year's first declaration"),),
    summary="Declare a year's holiday schedule entered in full (admin), or withdraw "
    "that; 201 first declaration, 200 changed. A year outside the built-in calendar "
    "with no holiday entry cannot be declared complete (409)",
    errors=(InvalidState,),
)
async def put_year(request: web.Request) -> web.StreamResponse:
    year = _year(request.match_info["year"])
    body = await read_json(request, YearIn)
    check_text({"note": body.note})
    first, out = await request.app[REGISTRY_SERVICE].declare_year(
        principal(request).name, year, body.complete, body.note
    )
    return json_response(out, status=201 if first else 200)


@routes.route(
    "GET",
    "/v1/holidays",
    roles=READERS,
    response=Items,
    query=("year",),
    query_type=YearQuery,
    summary="Operator calendar entries (they win over the built-in calendar)",
)
async def list_holidays(request: web.Request) -> web.StreamResponse:
    year = convert_query(request, YearQuery).year
    return json_response(Items(await request.app[REGISTRY_SERVICE].holidays(year)))


@routes.route(
    "PUT",
    "/v1/holidays/{day}",
    roles=EDITORS,
    body=HolidayIn,
    also=((201, "a day not entered before"),),
    summary="Set a day's type; 201 new, 200 replaced; 409 invalid_state when it would "
    "leave a year declared complete with no holiday",
    errors=(Conflict, InvalidState),
)
async def put_holiday(request: web.Request) -> web.StreamResponse:
    day = _day(request.match_info["day"])
    body = await read_json(request, HolidayIn)
    check_text({"name": body.name})
    created, after = await request.app[REGISTRY_SERVICE].set_day(
        principal(request).name, day, body.kind, body.name
    )
    return json_response(after, status=201 if created else 200)


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
    removed = await request.app[REGISTRY_SERVICE].remove_day(principal(request).name, day)
    return json_response(removed)


# --- policy -------------------------------------------------------------------------------


@routes.route(
    "GET",
    "/v1/policy",
    roles=READERS,
    response=PolicyDocument,
    summary="The policy document in force: hours, frequency caps, retention",
)
async def get_policy(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[REGISTRY_SERVICE].policy())


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

    in_force = await request.app[REGISTRY_SERVICE].replace_policy(principal(request).name, doc)
    return json_response(in_force)
