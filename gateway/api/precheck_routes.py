"""POST /v1/precheck and /v1/precheck/simulate."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import asyncpg
from aiohttp import web

from gateway.api.routing import Routes, json_response, principal, read_json, required_when
from gateway.appkeys import CHECKER, POLICIES, SETTINGS, SIMULATIONS
from gateway.core.errors import InvalidRequest, RequestIdConflict, Unavailable
from gateway.policy import REQUIRED_BY_PURPOSE, CheckRequest, missing_fields
from gateway.store.answers import PrecheckAnswer

routes = Routes()
PURPOSE_RULES = tuple(
    required_when("purpose", purpose, names) for purpose, names in REQUIRED_BY_PURPOSE.items()
)


class SimulateRequest(CheckRequest, frozen=True, kw_only=True):
    at: datetime


def _require_fields(req: CheckRequest) -> None:
    missing = missing_fields(req)
    if missing:
        raise InvalidRequest(f"{', '.join(missing)}: required for purpose {req.purpose}")


async def _policy_sellers(request: web.Request, req: CheckRequest) -> frozenset[str]:
    """The sellers of the policy a callback check names; nothing is looked up for a check
    that names none. Within half the check's time limit, else 503 (do not dial)."""
    if req.purpose != "callback" or req.policy_no is None:
        return frozenset()
    limit = request.app[SETTINGS].check_timeout_ms / 2000
    try:
        return await asyncio.wait_for(request.app[POLICIES].sellers(req.policy_no), limit)
    except TimeoutError as e:
        raise Unavailable("the policy's seller could not be looked up in time; do not dial") from e
    except asyncpg.PostgresError as e:
        raise Unavailable("the policy's seller could not be looked up; do not dial") from e


@routes.route(
    "POST",
    "/v1/precheck",
    roles=("dialer",),
    body=CheckRequest,
    response=PrecheckAnswer,
    body_rules=PURPOSE_RULES,
    summary="Judge one call before it is dialed; the decision is durable before the answer",
    errors=(RequestIdConflict,),
)
async def precheck(request: web.Request) -> web.StreamResponse:
    req = await read_json(request, CheckRequest)
    _require_fields(req)
    checker = request.app[CHECKER]
    if req.purpose != "callback" or req.policy_no is None:
        body = await checker.check(req, principal(request))
    else:
        started = time.monotonic()  # the seller lookup counts against the check's time limit
        sellers = await _policy_sellers(request, req)
        body = await checker.check(req, principal(request), policy_sellers=sellers, started=started)
    return web.Response(body=body, content_type="application/json")


@routes.route(
    "POST",
    "/v1/precheck/simulate",
    roles=("supervisor", "auditor"),
    body=SimulateRequest,
    response=PrecheckAnswer,
    body_rules=PURPOSE_RULES,
    summary="Judge a call at a given moment without counting or recording it (audited)",
)
async def simulate(request: web.Request) -> web.StreamResponse:
    req = await read_json(request, SimulateRequest)
    _require_fields(req)
    if req.at.tzinfo is None:
        raise InvalidRequest("at: must carry a UTC offset (RFC 3339)")
    sellers = await _policy_sellers(request, req)
    answer = await request.app[SIMULATIONS].simulate(
        principal(request).name, req, req.at, policy_sellers=sellers
    )
    return json_response(answer)
