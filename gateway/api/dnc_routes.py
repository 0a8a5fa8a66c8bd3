"""The do-not-call list: history per number, supervisor edits, streamed import and export."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.api.changes import check_when
from gateway.api.csv_exports import csv_bom
from gateway.api.csvlines import body_blocks, csv_text
from gateway.api.masked_answers import MaskedCsv, number_mask
from gateway.api.routing import Routes, convert_query, json_response, principal, read_json
from gateway.appkeys import DNC_LIST, SETTINGS
from gateway.core.errors import InvalidRequest, NotFound, RefusalProtected, UnsupportedMediaType
from gateway.policy import normalize_number

routes = Routes()
LINE_BYTES = 12  # the shortest line, "13812345678\n": an upper bound on the line count

Reason = Annotated[str, Meta(min_length=1, max_length=500)]
Source = Annotated[str, Meta(pattern=r"^(supervisor|customer_refusal|external:[\w.-]{1,64})$")]


Evidence = Annotated[str, Meta(min_length=1, max_length=500)]


class DncPut(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason
    scope: Literal["all", "marketing"] = "marketing"
    expires_at: datetime | None = None
    source: Source = "supervisor"
    replace: bool = False
    consent_evidence: Evidence | None = None


class DncDelete(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason
    consent_evidence: Evidence | None = None


class DncEntry(msgspec.Struct):
    id: int
    number: str
    scope: str
    source: str
    reason: str | None
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    evidence_call_id: str | None
    ended_at: datetime | None
    ended_by: str | None
    end_reason: str | None
    supersedes: int | None
    refusal_made_at: datetime | None
    protected_until: datetime | None
    consent_evidence: str | None


class DncHistory(msgspec.Struct):
    number: str
    active: bool
    entries: list[DncEntry]


class ImportQuery(msgspec.Struct):
    scope: Literal["all", "marketing"] = "marketing"
    source: Annotated[str, Meta(pattern=r"^[\w.-]{1,64}$")] | None = None


class InvalidLine(msgspec.Struct):
    line: int
    value: str
    error: str


class ImportAnswer(msgspec.Struct):
    added: int
    already_listed: int
    invalid: list[InvalidLine]
    invalid_count: int
    lines: int


def _number(request: web.Request) -> str:
    raw = request.match_info["number"]
    e164 = normalize_number(raw)
    if e164 is None:
        raise InvalidRequest(f"number: {raw!r} is not a valid mainland mobile or landline number")
    return e164


def _evidence(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise InvalidRequest("consent_evidence: must not be blank")
    return value


def _entry(row: dict[str, Any]) -> DncEntry:
    values = dict(row)
    if values.get("evidence_call_id") is not None:
        values["evidence_call_id"] = str(values["evidence_call_id"])
    return msgspec.convert(values, DncEntry, from_attributes=False)


def is_active(entry: dict[str, Any], now: datetime) -> bool:
    expires = entry["expires_at"]
    return entry["ended_at"] is None and (expires is None or expires > now)


@routes.route(
    "GET",
    "/v1/dnc/export",
    roles=("supervisor", "auditor"),
    response_content_type="text/csv",
    query=("bom",),
    summary="CSV of the active entries: number,scope,source,reason,created_at,expires_at "
    "(numbers masked for auditors; ?bom=1 starts it with a UTF-8 BOM)",
)
async def export_dnc(request: web.Request) -> web.StreamResponse:
    bom = csv_bom(request)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="dnc.csv"',
        }
    )

    async def start() -> None:
        await response.prepare(request)
        if bom:
            await response.write(bom)

    mask = number_mask(request)
    masked = None if mask is None else MaskedCsv(response.write, mask)
    write = response.write if masked is None else masked.write
    await request.app[DNC_LIST].export(principal(request).name, start, write)
    if masked is not None:
        await masked.close()
    await response.write_eof()
    return response


@routes.route(
    "POST",
    "/v1/dnc/import",
    roles=("supervisor",),
    response=ImportAnswer,
    query=("scope", "source"),
    query_type=ImportQuery,
    body_content_types=("text/csv",),
    summary="Stream a CSV of number[,reason[,expires_at]] onto the list; every bad line is "
    "reported with its line number, every good one kept",
)
async def import_dnc(request: web.Request) -> web.StreamResponse:
    if request.content_type not in ("text/csv", "text/plain", "application/octet-stream"):
        raise UnsupportedMediaType(f"content type {request.content_type}: send text/csv")
    text = csv_text(request)
    query = convert_query(request, ImportQuery)
    filename = query.source or f"upload-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    report = await request.app[DNC_LIST].import_lines(
        body_blocks(request, request.app[SETTINGS].max_csv_bytes, text),
        scope=query.scope,
        source=f"import:{filename}",
        actor=principal(request).name,
        expected_lines=(request.content_length or 0) // LINE_BYTES,
    )
    return json_response(
        ImportAnswer(
            added=report.added,
            already_listed=report.already_listed,
            invalid=[InvalidLine(i.line, i.value, i.error) for i in report.invalid],
            invalid_count=report.invalid_count,
            lines=report.lines,
        )
    )


@routes.route(
    "GET",
    "/v1/dnc/{number}",
    roles=("supervisor", "auditor"),
    response=DncHistory,
    summary="A number's do-not-call history; 404 when it was never listed (numbers masked "
    "for auditors)",
    errors=(
        InvalidRequest,
        NotFound,
    ),
)
async def get_dnc(request: web.Request) -> web.StreamResponse:
    e164 = _number(request)
    history = await request.app[DNC_LIST].history(e164)
    if not history:
        raise NotFound(f"{e164} has never been on the do-not-call list")
    now = datetime.now(UTC)
    return json_response(
        DncHistory(
            number=e164,
            active=any(is_active(e, now) for e in history),
            entries=[_entry(e) for e in history],
        )
    )


@routes.route(
    "PUT",
    "/v1/dnc/{number}",
    roles=("supervisor",),
    body=DncPut,
    # Consent evidence only comes with "replace": true.
    body_rules=(
        {
            "if": {
                "properties": {"consent_evidence": {"type": "string"}},
                "required": ["consent_evidence"],
            },
            "then": {"properties": {"replace": {"const": True}}, "required": ["replace"]},
        },
    ),
    response=DncEntry,
    also=((201, "the number was not listed: a new entry"),),
    summary="List a number (merged with its active entry: the wider scope, the later "
    'expiry), or with "replace": true set it exactly; 201 new, 200 updated',
    errors=(RefusalProtected,),
)
async def put_dnc(request: web.Request) -> web.StreamResponse:
    e164 = _number(request)
    body = await read_json(request, DncPut)
    if body.expires_at is not None:
        check_when("expires_at", body.expires_at)
        if body.expires_at <= datetime.now(UTC):
            raise InvalidRequest("expires_at: must be in the future")
    evidence = _evidence(body.consent_evidence)
    dnc = request.app[DNC_LIST]
    if body.replace:
        change = await dnc.replace(
            e164,
            scope=body.scope,
            source=body.source,
            actor=principal(request).name,
            reason=body.reason,
            expires_at=body.expires_at,
            consent_evidence=evidence,
        )
    elif evidence is not None:
        raise InvalidRequest('consent_evidence: only with "replace": true')
    else:
        change = await dnc.add(
            e164,
            scope=body.scope,
            source=body.source,
            actor=principal(request).name,
            reason=body.reason,
            expires_at=body.expires_at,
        )
    return json_response(_entry(change.entry), status=201 if change.created else 200)


@routes.route(
    "DELETE",
    "/v1/dnc/{number}",
    roles=("supervisor",),
    body=DncDelete,
    response=DncEntry,
    summary="End a number's active entry (a reason is required; inside a customer "
    "refusal's protection also consent_evidence); history is kept",
    errors=(NotFound, RefusalProtected),
)
async def delete_dnc(request: web.Request) -> web.StreamResponse:
    e164 = _number(request)
    if not request.body_exists:
        raise InvalidRequest('reason: required; send {"reason": "..."}')
    body = await read_json(request, DncDelete)
    ended = await request.app[DNC_LIST].remove(
        e164,
        actor=principal(request).name,
        reason=body.reason,
        consent_evidence=_evidence(body.consent_evidence),
    )
    if ended is None:
        raise NotFound(f"{e164} has no active do-not-call entry")
    return json_response(_entry(ended))
