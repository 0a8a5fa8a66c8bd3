"""Call detail records from the switch or PBX, and the daily report."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any

import msgspec
from aiohttp import web

from gateway.api.csv_exports import BOM, Bom
from gateway.api.csvlines import CsvText, body_lines, csv_text
from gateway.api.routing import (
    FIRST_YEAR,
    LAST_YEAR,
    Routes,
    convert_query,
    json_response,
    principal,
)
from gateway.appkeys import CDRS, SETTINGS
from gateway.core.errors import InvalidRequest, NotFound, UnsupportedMediaType
from gateway.policy import normalize_caller_id, normalize_number

routes = Routes()
MAX_REPORTED_INVALID = 1000
CSV_FIELDS = ("caller", "callee", "start", "end", "call_id")


class CdrAnswer(msgspec.Struct):
    accepted: int
    invalid: list[dict[str, Any]]
    invalid_count: int


def _time(value: Any, name: str) -> datetime:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}: an RFC 3339 time is required")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{name}: must carry a UTC offset")
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"{name}: out of range (years {FIRST_YEAR}-{LAST_YEAR})")
    return moment


def _record(fields: dict[str, Any]) -> tuple[Any, ...]:
    caller, callee = fields.get("caller"), fields.get("callee")
    if not isinstance(caller, str) or not caller.strip():
        raise ValueError("caller: required")
    if not isinstance(callee, str) or not callee.strip():
        raise ValueError("callee: required")
    if "\x00" in caller + callee:
        raise ValueError("NUL characters are not allowed")
    start = _time(fields.get("start"), "start")
    end = _time(fields["end"], "end") if fields.get("end") else None
    if end is not None and end < start:
        raise ValueError("end: before start")
    call_id = None
    if fields.get("call_id"):
        try:
            call_id = uuid.UUID(str(fields["call_id"]))
        except ValueError as e:
            raise ValueError("call_id: not a call id") from e
    return (
        normalize_caller_id(caller[:40]),
        normalize_number(callee[:40]),
        callee[:40],
        start,
        end,
        call_id,
    )


@routes.route(
    "POST",
    "/v1/cdrs",
    roles=("dialer", "supervisor"),
    response=CdrAnswer,
    status=202,
    body_content_types=("application/x-ndjson", "text/csv"),
    summary="Call detail records from the switch, as JSON lines or CSV "
    "(caller,callee,start,end,call_id); the reconciliation job matches them to decisions",
    # InvalidRequest: a body that is not UTF-8 text, or holds a NUL byte.
    errors=(InvalidRequest,),
)
async def post_cdrs(request: web.Request) -> web.StreamResponse:
    ctype = request.content_type
    if ctype not in ("application/x-ndjson", "application/jsonl", "application/json", "text/csv"):
        raise UnsupportedMediaType(f"content type {ctype}: send application/x-ndjson or text/csv")
    as_csv = ctype == "text/csv"
    # JSON lines are UTF-8 whatever the charset says; CSV is read as its charset names.
    text = csv_text(request) if as_csv else CsvText("utf-8")
    invalid: list[dict[str, Any]] = []
    invalid_count = 0

    async def records() -> AsyncIterator[tuple[Any, ...]]:
        nonlocal invalid_count
        header: list[str] | None = None
        async for number, line in body_lines(request, request.app[SETTINGS].max_csv_bytes, text):
            if not line.strip():
                continue
            try:
                if as_csv:
                    values = next(csv.reader(io.StringIO(line)))
                    if number == 1 and values and values[0].strip().lower() == "caller":
                        header = [v.strip().lower() for v in values]
                        continue
                    names = header or list(CSV_FIELDS)
                    fields: dict[str, Any] = dict(
                        zip(names, (v.strip() for v in values), strict=False)
                    )
                else:
                    decoded = msgspec.json.decode(line)
                    if not isinstance(decoded, dict):
                        raise ValueError("each line must be a JSON object")
                    fields = decoded
                record = _record(fields)
            except (ValueError, msgspec.DecodeError) as e:
                invalid_count += 1
                if len(invalid) < MAX_REPORTED_INVALID:
                    invalid.append({"line": number, "error": str(e)})
                continue
            yield record

    accepted = await request.app[CDRS].ingest(principal(request).name, records())
    return json_response(CdrAnswer(accepted, invalid, invalid_count), status=202)


class ReportQuery(msgspec.Struct, forbid_unknown_fields=True):
    date: date
    bom: Bom = 0


@routes.route(
    "GET",
    "/v1/reports/daily",
    roles=("supervisor", "auditor"),
    query=("date", "bom"),
    query_type=ReportQuery,
    summary="A day's report per campaign and agent, JSON or CSV by Accept "
    "(a day not yet reported by the nightly job is computed now, marked provisional)",
    errors=(NotFound,),
)
async def daily_report(request: web.Request) -> web.StreamResponse:
    if "date" not in request.query:
        raise InvalidRequest("date: required (YYYY-MM-DD)")
    query = convert_query(request, ReportQuery)
    day = query.date
    rows, provisional = await request.app[CDRS].daily_report(day)
    if "text/csv" in request.headers.get("Accept", ""):
        return _csv(rows, day, BOM if query.bom else b"")
    return json_response({"date": day, "provisional": provisional, "rows": rows})


def _csv(rows: list[dict[str, Any]], day: date, bom: bytes) -> web.Response:
    columns = [
        "campaign_id",
        "agent_id",
        "checks",
        "allows",
        "denies",
        "answered",
        "opt_outs",
        "complaints",
        "recordings_missing",
        "callbacks_attempted",
        "callbacks_reached",
        "callbacks_unlinked",
        "visits_ended",
        "visits_done_in_time",
        "callback_success_rate",
        "callback_target_met",
        "denies_by_reason",
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(
            [
                ";".join(f"{k}={v}" for k, v in sorted(row[c].items()))
                if c == "denies_by_reason"
                else ";".join(row.get(c) or [])
                if c == "callbacks_unlinked"
                else ("" if row.get(c) is None else row[c])
                for c in columns
            ]
        )
    return web.Response(
        body=bom + out.getvalue().encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="daily-{day.isoformat()}.csv"'},
    )
