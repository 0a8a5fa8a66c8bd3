"""POST /v1/scrub (up to 10,000 numbers, answered at once) and scrub jobs for large CSV
lists."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.api.csv_exports import csv_bom
from gateway.api.csvlines import body_lines, csv_text
from gateway.api.routing import (
    Routes,
    convert_query,
    json_response,
    principal,
    read_json,
    required_when,
)
from gateway.appkeys import SCRUB_JOBS, SCRUBBER, SETTINGS
from gateway.core.errors import InvalidRequest, NotFound, UnsupportedMediaType
from gateway.policy import Purpose, ScrubResult

routes = Routes()
MAX_SCRUB = 10_000
ROLES = ("dialer", "supervisor")

CampaignId = Annotated[str, Meta(min_length=1, max_length=64)]


class ScrubRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    purpose: Purpose
    numbers: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=MAX_SCRUB)]
    campaign_id: CampaignId | None = None


class ScrubAnswer(msgspec.Struct):
    results: list[ScrubResult]


class ScrubJobQuery(msgspec.Struct):
    purpose: Purpose
    campaign_id: CampaignId | None = None


class ScrubJobCreated(msgspec.Struct):
    job_id: str


class ScrubJobState(msgspec.Struct, kw_only=True):
    job_id: str
    state: str
    processed: int
    total: int
    campaign_id: str | None
    purpose: str
    error: str | None
    created_at: datetime
    updated_at: datetime


def _need_campaign(purpose: str, campaign_id: str | None) -> None:
    if purpose == "marketing" and campaign_id is None:
        raise InvalidRequest("campaign_id: required for purpose marketing (its lists decide)")


@routes.route(
    "POST",
    "/v1/scrub",
    roles=ROLES,
    body=ScrubRequest,
    response=ScrubAnswer,
    body_rules=(required_when("purpose", "marketing", ("campaign_id",)),),
    summary="Which of up to 10,000 numbers may be called for a campaign and purpose "
    "(number, staff, DNC and list rules; no attempt is counted)",
)
async def scrub_numbers(request: web.Request) -> web.StreamResponse:
    body = await read_json(request, ScrubRequest)
    _need_campaign(body.purpose, body.campaign_id)
    results = await request.app[SCRUBBER].scrub(body.numbers, body.purpose, body.campaign_id)
    return json_response(ScrubAnswer(results))


def _job_id(request: web.Request) -> uuid.UUID:
    try:
        return uuid.UUID(request.match_info["job_id"])
    except ValueError as e:
        raise NotFound(f"no scrub job {request.match_info['job_id']}") from e


@routes.route(
    "POST",
    "/v1/scrub-jobs",
    roles=ROLES,
    response=ScrubJobCreated,
    status=202,
    query=("campaign_id", "purpose"),
    query_type=ScrubJobQuery,
    body_content_types=("text/csv",),
    summary="Scrub a large CSV list (one number per line, optional header) in the background",
)
async def create_scrub_job(request: web.Request) -> web.StreamResponse:
    if request.content_type not in ("text/csv", "text/plain", "application/octet-stream"):
        raise UnsupportedMediaType(f"content type {request.content_type}: send text/csv")
    text = csv_text(request)
    query = convert_query(request, ScrubJobQuery)
    _need_campaign(query.purpose, query.campaign_id)
    job_id = await request.app[SCRUB_JOBS].submit(
        body_lines(request, request.app[SETTINGS].max_csv_bytes, text),
        purpose=query.purpose,
        campaign_id=query.campaign_id,
        actor=principal(request).name,
    )
    return json_response(ScrubJobCreated(str(job_id)), status=202)


@routes.route(
    "GET",
    "/v1/scrub-jobs/{job_id}",
    roles=ROLES,
    response=ScrubJobState,
    summary="A scrub job's state and progress",
    errors=(NotFound,),
)
async def scrub_job(request: web.Request) -> web.StreamResponse:
    row = await request.app[SCRUB_JOBS].status(_job_id(request))
    if row is None:
        raise NotFound(f"no scrub job {request.match_info['job_id']}")
    values = dict(row)
    values["job_id"] = str(values["job_id"])
    return json_response(msgspec.convert(values, ScrubJobState))


@routes.route(
    "GET",
    "/v1/scrub-jobs/{job_id}/result",
    roles=ROLES,
    response_content_type="text/csv",
    query=("bom",),
    summary="A finished scrub job's CSV: input,callee_e164,callable,reasons "
    "(?bom=1 starts it with a UTF-8 BOM)",
    errors=(NotFound,),
)
async def scrub_job_result(request: web.Request) -> web.StreamResponse:
    job_id = _job_id(request)
    bom = csv_bom(request)
    row = await request.app[SCRUB_JOBS].status(job_id)
    if row is None:
        raise NotFound(f"no scrub job {job_id}")
    if row["state"] != "done":
        raise NotFound(f"scrub job {job_id} is {row['state']}; its result is not ready")
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="scrub-{job_id}.csv"',
        }
    )
    await response.prepare(request)
    if bom:
        await response.write(bom)
    async with contextlib.aclosing(request.app[SCRUB_JOBS].results(job_id)) as chunks:
        async for text in chunks:
            await response.write(text.encode())
    await response.write_eof()
    return response
