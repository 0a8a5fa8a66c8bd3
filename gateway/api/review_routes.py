"""Review for supervisors and auditors: calls, one call whole, CSV export, the audit log,
and the compliance exceptions the gateway has found."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.api.calls_routes import call_id_of
from gateway.api.changes import check_when
from gateway.api.csv_exports import BOM, Bom
from gateway.api.masked_answers import number_mask
from gateway.api.routing import (
    IdCursor,
    Limit,
    Page,
    Routes,
    convert_query,
    json_response,
    path_bigint,
    principal,
    read_json,
)
from gateway.appkeys import REVIEW
from gateway.core.errors import InvalidRequest, NotFound
from gateway.policy import REASON_CODES, normalize_number
from gateway.services.review import (
    EXPORT_HEADER,
    CallFilter,
    ExceptionNotFound,
)

routes = Routes()
READERS = ("supervisor", "auditor")


class CallQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    callee: str | None = None
    agent_id: str | None = None
    campaign_id: str | None = None
    decision: Literal["allow", "deny"] | None = None
    reason: str | None = None
    from_: datetime | None = msgspec.field(default=None, name="from")
    to: datetime | None = None
    cursor: str | None = None
    limit: Limit = 50


def _times(since: datetime | None, until: datetime | None) -> None:
    check_when("from", since)
    check_when("to", until)


@routes.route(
    "GET",
    "/v1/calls",
    roles=READERS,
    response=Page,
    query=(
        "callee",
        "agent_id",
        "campaign_id",
        "decision",
        "reason",
        "from",
        "to",
        "cursor",
        "limit",
    ),
    query_type=CallQuery,
    summary="Calls newest first, filtered, cursor-paged (numbers masked for auditors)",
)
async def calls_view(request: web.Request) -> web.StreamResponse:
    q = convert_query(request, CallQuery)
    _times(q.from_, q.to)
    callee = None
    if q.callee is not None:
        callee = normalize_number(q.callee)
        if callee is None:
            raise InvalidRequest(f"callee: {q.callee!r} is not a valid number")
    if q.reason is not None and q.reason not in REASON_CODES:
        raise InvalidRequest(f"reason: unknown reason code {q.reason!r}")
    filters = CallFilter(
        callee=callee,
        agent_id=q.agent_id,
        campaign_id=q.campaign_id,
        decision=q.decision,
        reason=q.reason,
        since=q.from_,
        until=q.to,
    )
    items, next_cursor = await request.app[REVIEW].calls(
        filters, q.cursor, q.limit, principal(request).role
    )
    return json_response(Page(items, next_cursor))


@routes.route(
    "GET",
    "/v1/calls/{call_id}",
    roles=READERS,
    summary="One call: request, decision, reasons, events, recording, sale, hold, "
    "retention date, exceptions",
    errors=(NotFound,),
)
async def call_view(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    detail = await request.app[REVIEW].call(call_id, principal(request).role)
    if detail is None:
        raise NotFound(f"no call {call_id}")
    return json_response(detail)


class ExportQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    from_: datetime | None = msgspec.field(default=None, name="from")
    to: datetime | None = None
    bom: Bom = 0


@routes.route(
    "GET",
    "/v1/export/calls",
    roles=READERS,
    query=("from", "to", "bom"),
    query_type=ExportQuery,
    response_content_type="text/csv",
    summary="Calls between two times as CSV, oldest first, streamed (audited; numbers masked "
    "for auditors; ?bom=1 starts it with a UTF-8 BOM)",
)
async def export_calls(request: web.Request) -> web.StreamResponse:
    q = convert_query(request, ExportQuery)
    _times(q.from_, q.to)
    who = principal(request)
    found = await request.app[REVIEW].export(who.name, who.role, q.from_, q.to)
    mask = number_mask(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="calls.csv"',
        }
    )
    await response.prepare(request)
    if q.bom:
        await response.write(BOM)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(EXPORT_HEADER)
    rows = 0
    async for row in found:
        writer.writerow(row if mask is None else mask.record(EXPORT_HEADER, row))
        rows += 1
        if rows % 2000 == 0:
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


# --- audit log ----------------------------------------------------------------------------


class AuditQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    entity: Annotated[str, Meta(max_length=64)] | None = None
    entity_id: Annotated[str, Meta(max_length=128)] | None = None
    from_: datetime | None = msgspec.field(default=None, name="from")
    to: datetime | None = None
    cursor: IdCursor | None = None
    limit: Limit = 100


@routes.route(
    "GET",
    "/v1/audit",
    roles=READERS,
    response=Page,
    query=("entity", "entity_id", "from", "to", "cursor", "limit"),
    query_type=AuditQuery,
    summary="The audit log, newest first; each entry carries its hash and the one before it "
    "(numbers masked for auditors)",
)
async def audit_view(request: web.Request) -> web.StreamResponse:
    q = convert_query(request, AuditQuery)
    _times(q.from_, q.to)
    items, next_cursor = await request.app[REVIEW].audit_log(
        q.entity, q.entity_id, q.from_, q.to, q.cursor, q.limit
    )
    return json_response(Page(items, next_cursor))


# --- compliance exceptions ------------------------------------------------------------------


class ExceptionQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    state: Literal["open", "acknowledged", "resolved"] | None = None
    kind: Annotated[str, Meta(max_length=64)] | None = None
    cursor: IdCursor | None = None
    limit: Limit = 100


class ExceptionPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    state: Literal["open", "acknowledged", "resolved"]
    note: Annotated[str, Meta(min_length=1, max_length=2000)]


@routes.route(
    "GET",
    "/v1/exceptions",
    roles=("supervisor",),
    response=Page,
    query=("state", "kind", "cursor", "limit"),
    query_type=ExceptionQuery,
    summary="Compliance exceptions found at call time and by the jobs, newest first",
)
async def exceptions_view(request: web.Request) -> web.StreamResponse:
    q = convert_query(request, ExceptionQuery)
    items, next_cursor = await request.app[REVIEW].exceptions(q.state, q.kind, q.cursor, q.limit)
    return json_response(Page(items, next_cursor))


@routes.route(
    "PATCH",
    "/v1/exceptions/{id}",
    roles=("supervisor",),
    body=ExceptionPatch,
    summary="Acknowledge or resolve an exception, with a note (audited)",
    errors=(NotFound,),
)
async def patch_exception(request: web.Request) -> web.StreamResponse:
    exception_id = path_bigint(request, "id", "exception")
    body = await read_json(request, ExceptionPatch)
    try:
        updated = await request.app[REVIEW].update_exception(
            principal(request).name, exception_id, body.state, body.note
        )
    except ExceptionNotFound as e:
        raise NotFound(f"no exception {exception_id}") from e
    return json_response(updated)
