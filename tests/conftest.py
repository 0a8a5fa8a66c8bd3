"""Each test run gets its own PostgreSQL database and Redis key prefix, removed after."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from gateway.api.ops import OPENAPI
from gateway.app import create_app
from gateway.core.settings import Settings, load_settings
from gateway.serve import make_runner
from gateway.services.auth import create_token
from gateway.store.postgres import connect, migrate
from tests.support.clock import Clock
from tests.support.databases import ADMIN_URL, REDIS_URL, db_url


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    name = f"gwtest_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = db_url(name)
    await migrate(url)
    try:
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture(scope="session")
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"gwtest:{os.getpid()}:{secrets.token_hex(4)}:"
    yield prefix
    client: Redis = Redis.from_url(REDIS_URL)
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        await client.delete(key)
    await client.aclose()


@pytest.fixture
def settings(database_url: str, redis_prefix: str, tmp_path: Any) -> Settings:
    return load_settings(
        env={},
        database_url=database_url,
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        recordings_dir=str(tmp_path / "recordings"),
        scheduler=False,
        backup_dir=str(tmp_path / "backup"),
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture(scope="session")
async def tokens(database_url: str) -> dict[str, str]:
    conn = await connect(database_url)
    try:
        return {
            role: await create_token(conn, role, f"test-{role}")
            for role in ("dialer", "supervisor", "auditor", "admin")
        }
    finally:
        await conn.close()


Make = Callable[..., Any]

# Error answers of the gateway under test that its OpenAPI document does not list for the
# route: every test that makes one fails (below), so the document stays true.
_UNDECLARED: list[str] = []


@web.middleware
async def _declared_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    response: web.StreamResponse = await handler(request)
    resource = request.match_info.route.resource
    body = getattr(response, "body", None)
    if response.status < 400 or resource is None or not isinstance(body, bytes):
        return response
    try:
        code = json.loads(body)["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return response
    op = request.app[OPENAPI]["paths"].get(resource.canonical, {}).get(request.method.lower())
    declared = (op or {}).get("responses", {}).get(str(response.status), {})
    if response.status != 500 and code not in declared.get("x-error-codes", []):
        _UNDECLARED.append(f"{request.method} {resource.canonical}: {response.status} {code}")
    return response


@pytest.fixture(autouse=True)
def _errors_are_declared() -> Any:
    yield
    found = sorted(set(_UNDECLARED))
    _UNDECLARED.clear()
    assert not found, f"errors answered but not in the OpenAPI document: {found}"


@pytest.fixture
async def make_client() -> AsyncIterator[Make]:
    opened: list[TestClient[Any, Any]] = []

    async def make(settings: Settings, clock: Any = None) -> TestClient[Any, Any]:
        app = create_app(settings, clock)
        app.middlewares.insert(0, _declared_errors)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        await client.close()


Serve = Callable[..., Awaitable[tuple[str, int]]]


@pytest.fixture
async def serve_gateway() -> AsyncIterator[Serve]:
    """Serve the gateway as `gateway serve` does (its runner, so its connection limits) on
    a free port of 127.0.0.1; answers (host, port)."""
    runners: list[web.AppRunner] = []

    async def start(settings: Settings, clock: Any = None) -> tuple[str, int]:
        app = create_app(settings, clock)
        app.middlewares.insert(0, _declared_errors)
        runner = make_runner(app, settings, shutdown_timeout=5)
        await runner.setup()
        runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        return str(host), int(port)

    yield start
    for runner in reversed(runners):
        await runner.cleanup()


# A Monday, a working day, mid-morning in Beijing.
WORKDAY_MORNING = "2026-11-23T10:00:00+08:00"


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.fromisoformat(WORKDAY_MORNING))


@pytest.fixture
async def client(make_client: Make, settings: Settings, clock: Clock) -> TestClient[Any, Any]:
    c: TestClient[Any, Any] = await make_client(settings, clock)
    return c
