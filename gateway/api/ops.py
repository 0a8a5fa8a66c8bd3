"""Health, readiness, metrics and the API description: no token needed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import msgspec
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.openapi import build_openapi
from gateway.api.routing import Routes, json_response, principal

routes = Routes()

ReadinessCheck = Callable[[web.Application], Awaitable[str | None]]
READINESS_CHECKS = web.AppKey("readiness_checks", list[tuple[str, ReadinessCheck]])
OPENAPI = web.AppKey("openapi", dict)


class Health(msgspec.Struct):
    status: str


class Readiness(msgspec.Struct):
    status: str
    checks: dict[str, str]


@routes.route("GET", "/healthz", public=True, summary="The process is alive", response=Health)
async def healthz(request: web.Request) -> web.StreamResponse:
    return json_response(Health("ok"))


@routes.route(
    "GET",
    "/readyz",
    public=True,
    response=Readiness,
    summary="200 only when PostgreSQL and Redis answer and the DNC cache is complete; else 503",
    also=((503, "not ready: the report names each check that failed"),),
)
async def readyz(request: web.Request) -> web.StreamResponse:
    checks = request.app[READINESS_CHECKS]

    async def run(check: ReadinessCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(request.app), timeout=2.0)
        except TimeoutError:
            return "did not answer within 2 s"
        except Exception as e:
            return f"{type(e).__name__}: {e}"

    results = await asyncio.gather(*(run(c) for _, c in checks))
    report = {name: (problem or "ok") for (name, _), problem in zip(checks, results, strict=True)}
    ready = all(problem is None for problem in results)
    return json_response(
        Readiness("ready" if ready else "not ready", report), status=200 if ready else 503
    )


@routes.route(
    "GET", "/metrics", public=True, response_content_type="text/plain", summary="Prometheus metrics"
)
async def metrics_view(request: web.Request) -> web.StreamResponse:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


@routes.route("GET", "/openapi.json", public=True, summary="This API, as OpenAPI 3.1")
async def openapi_view(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[OPENAPI])


class WhoAmI(msgspec.Struct):
    name: str
    role: str


@routes.route(
    "GET",
    "/v1/whoami",
    roles=("dialer", "supervisor", "auditor"),
    response=WhoAmI,
    summary="The token's name and role; a cheap way for an integration to test its token",
)
async def whoami(request: web.Request) -> web.StreamResponse:
    p = principal(request)
    return json_response(WhoAmI(p.name, p.role))


__all__ = ["OPENAPI", "READINESS_CHECKS", "build_openapi", "routes"]
