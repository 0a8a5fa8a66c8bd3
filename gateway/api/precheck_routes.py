"""POST /v1/precheck and /v1/precheck/simulate."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from gateway.api.routing import Routes, json_response, principal, read_json
from gateway.appkeys import CHECKER, SIMULATIONS
from gateway.core.errors import InvalidRequest, RequestIdConflict
from gateway.policy import CheckRequest, missing_fields
from gateway.store.answers import PrecheckAnswer

routes = Routes()


class SimulateRequest(CheckRequest, frozen=True, kw_only=True):
    at: datetime


def _require_fields(req: CheckRequest) -> None:
    missing = missing_fields(req)
    if missing:
        raise InvalidRequest(f"{', '.join(missing)}: required for purpose {req.purpose}")


@routes.route(
    "POST",
    "/v1/precheck",
    roles=("dialer",),
    body=CheckRequest,
    response=PrecheckAnswer,
    summary="Judge one call before it is dialed; the decision is durable before the answer",
    errors=(RequestIdConflict,),
)
async def precheck(request: web.Request) -> web.StreamResponse:
    req = await read_json(request, CheckRequest)
    _require_fields(req)
    body = await request.app[CHECKER].check(req, principal(request))
    return web.Response(body=body, content_type="application/json")


@routes.route(
    "POST",
    "/v1/precheck/simulate",
    roles=("supervisor", "auditor"),
    body=SimulateRequest,
    response=PrecheckAnswer,
    summary="Judge a call at a given moment without counting or recording it (audited)",
)
async def simulate(request: web.Request) -> web.StreamResponse:
    req = await read_json(request, SimulateRequest)
    _require_fields(req)
    if req.at.tzinfo is None:
        raise InvalidRequest("at: must carry a UTC offset (RFC 3339)")
    answer = await request.app[SIMULATIONS].simulate(principal(request).name, req, req.at)
    return json_response(answer)
