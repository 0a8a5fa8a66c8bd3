"""Request id, access log, authentication and the one place errors become JSON: one
middleware (`observe`) for all of it, since each layer costs every request a call."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web

from gateway.api.error_table import STORE_UNREACHABLE, answer_for, message_zh
from gateway.api.masked_answers import mask_answer
from gateway.api.routing import PRINCIPAL, RouteSpec
from gateway.core import metrics
from gateway.core.errors import DomainError, Forbidden, Unauthorized
from gateway.core.logs import request_id_var
from gateway.services.auth import Principal, TokenVerifier

log = logging.getLogger("gateway.http")

ROUTE_SPECS = web.AppKey("route_specs", dict[tuple[str, str], RouteSpec])
TOKENS = web.AppKey("tokens", TokenVerifier)
ACCESS_LOG = web.AppKey("access_log", bool)


class InFlight:
    """Requests being served now, and whether the process is stopping."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


IN_FLIGHT = web.AppKey("in_flight", InFlight)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def error_response(status: int, code: str, message: str, message_zh: str) -> web.Response:
    """The error envelope, Chinese unescaped."""
    body = {"error": {"code": code, "message": message, "message_zh": message_zh}}
    return web.Response(
        body=msgspec.json.encode(body), status=status, content_type="application/json"
    )


def _spec_for(request: web.Request) -> RouteSpec | None:
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return None
    return request.app[ROUTE_SPECS].get((route.method, resource.canonical))


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request.headers.get("X-Request-Id") or os.urandom(16).hex()
    token = request_id_var.set(rid[:64])
    started = time.perf_counter()
    status = 500
    in_flight = request.app[IN_FLIGHT]
    in_flight.enter()
    try:
        response = await _errors(request, handler)
        status = response.status
        response.headers["X-Request-Id"] = rid[:64]
        if status == 408:
            await _answer_and_close(request, response)
        return response
    finally:
        in_flight.leave()
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        metrics.HTTP_REQUESTS.labels(route, request.method, str(status)).inc()
        metrics.HTTP_LATENCY.labels(route).observe(elapsed)
        if request.app[ACCESS_LOG]:
            p = request.get(PRINCIPAL)
            log.info(
                "request",
                extra={
                    "fields": {
                        "method": request.method,
                        "path": request.path,
                        "status": status,
                        "ms": round(elapsed * 1000, 3),
                        "token": p.name if p is not None else None,
                    }
                },
            )
        request_id_var.reset(token)


async def _answer_and_close(request: web.Request, response: web.StreamResponse) -> None:
    """Answer a client too slow sending its body, then close the connection at once:
    aiohttp would otherwise wait up to 10 s more for the rest of the body, to discard it."""
    response.force_close()
    try:
        await response.prepare(request)
        await response.write_eof()
    except ConnectionError:
        pass
    request.protocol.force_close()


async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        spec = _spec_for(request)
        if spec is not None and not spec.public:
            request[PRINCIPAL] = await _authenticate(request, spec)
        # An auditor reads every number masked, in answers and errors alike.
        return mask_answer(request, await handler(request))
    except Exception as e:
        if isinstance(e, web.HTTPException) and e.status < 400:
            raise  # a redirect, not an error
        status, code = answer_for(e)
        message = _message(request, e, status)
        resp = error_response(status, code, message, message_zh(e, code, message))
        if isinstance(e, DomainError):
            resp.headers.update(e.headers)
        elif isinstance(e, web.HTTPException) and "Allow" in e.headers:
            resp.headers["Allow"] = e.headers["Allow"]
        return mask_answer(request, resp)


def _message(request: web.Request, e: Exception, status: int) -> str:
    """What the error answer says; logged too when the fault is not the client's."""
    if isinstance(e, DomainError):
        return e.message
    if isinstance(e, web.HTTPException):
        if status == 404:
            return f"no route for {request.method} {request.path}"
        if status == 405:
            return f"method {request.method} is not allowed on {request.path}"
        return e.text if e.text and not e.text.startswith(str(e.status)) else e.reason
    if isinstance(e, STORE_UNREACHABLE):
        # A store went away mid-request: nothing was answered, so the client may retry.
        log.error("store unreachable", extra={"fields": {"path": request.path, "error": str(e)}})
        return "a data store is unreachable; try again"
    log.exception("unhandled error", extra={"fields": {"path": request.path}})
    return "internal error; the request id is in the logs"


async def _authenticate(request: web.Request, spec: RouteSpec) -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    principal = await request.app[TOKENS].verify(token.strip())
    if principal is None:
        raise Unauthorized("unknown or revoked token")
    if principal.role not in spec.roles:
        allowed = ", ".join(sorted(spec.roles))
        raise Forbidden(f"role {principal.role} may not call this route (allowed: {allowed})")
    return principal
