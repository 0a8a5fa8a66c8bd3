from __future__ import annotations

import asyncio
import secrets
from typing import Any

import asyncpg
import pytest

from gateway.settings import Settings, load_settings
from gateway.store.postgres import available_migrations, migrate
from tests.conftest import ADMIN_URL, _db_url, bearer


async def test_healthz_needs_no_token(client: Any) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok"}


async def test_readyz_checks_postgres_and_redis(client: Any) -> None:
    resp = await client.get("/readyz")
    body = await resp.json()
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"] == "ok"


async def test_readyz_503_when_redis_unreachable(make_client: Any, settings: Settings) -> None:
    broken = load_settings(env={}, **{**_as_dict(settings), "redis_url": "redis://127.0.0.1:1/0"})
    client = await make_client(broken)
    resp = await client.get("/readyz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["redis"] != "ok"
    assert body["checks"]["postgres"] == "ok"


def _as_dict(settings: Settings) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(settings)


async def test_unknown_route_is_404_envelope(client: Any) -> None:
    resp = await client.get("/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_wrong_method_is_405_envelope(client: Any) -> None:
    resp = await client.post("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_metrics_are_prometheus_text(client: Any) -> None:
    await client.get("/healthz")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "gateway_http_requests_total" in await resp.text()


async def test_openapi_describes_every_route(client: Any) -> None:
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert "/healthz" in doc["paths"]
    assert "/readyz" in doc["paths"]


async def test_request_id_is_echoed(client: Any) -> None:
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"


# --- migrations --------------------------------------------------------------------------


@pytest.fixture
async def fresh_database() -> Any:
    name = f"gwtest_mig_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _db_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_migrations_apply_once_and_rerun_applies_nothing(fresh_database: str) -> None:
    first = await migrate(fresh_database)
    assert first == [m.name for m in available_migrations()]
    assert await migrate(fresh_database) == []


async def test_concurrent_migrations_do_not_collide(fresh_database: str) -> None:
    results = await asyncio.gather(*(migrate(fresh_database) for _ in range(4)))
    applied = [name for r in results for name in r]
    assert sorted(applied) == sorted(m.name for m in available_migrations())
    conn = await asyncpg.connect(fresh_database)
    try:
        count = await conn.fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        await conn.close()
    assert count == len(available_migrations())


async def test_the_reasons_index_is_built_concurrently_and_again_after_an_interruption(
    fresh_database: str,
) -> None:
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)

    async def reasons_indexes() -> list[tuple[str, bool, str]]:
        rows = await conn.fetch(
            "SELECT c.relname, i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname LIKE 'calls_reasons%' "
            "ORDER BY 1"
        )
        return [(r[0], r[1], r[2].rsplit(" WHERE ", 1)[-1]) for r in rows]

    built = [("calls_reasons", True, "(decision = 'deny'::text)")]
    try:
        assert await reasons_indexes() == built
        # Interrupted after the old index was dropped and before the rename: the next run
        # builds it again and finishes.
        await conn.execute("ALTER INDEX calls_reasons RENAME TO calls_reasons_denied")
        await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
        assert await migrate(fresh_database) == ["014_calls_reasons_denied_only.sql"]
        assert await reasons_indexes() == built
        # Interrupted after the rename, before the migration was recorded.
        await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
        assert await migrate(fresh_database) == ["014_calls_reasons_denied_only.sql"]
        assert await reasons_indexes() == built
    finally:
        await conn.close()


async def test_two_runs_at_once_build_the_index_once_while_decisions_are_stored(
    fresh_database: str,
) -> None:
    # A second run waiting for the migration lock holds no snapshot the build waits for,
    # and a writer's insert goes on while the index is built.
    await migrate(fresh_database)
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute("DELETE FROM schema_migrations WHERE number = 14")
        insert = (
            "INSERT INTO calls (call_id, created_at, decision, reasons, request, caller_id, "
            "agent_id, purpose, policy_version, token_name, valid_until) VALUES "
            "(gen_random_uuid(), now(), 'deny', '[{\"code\": \"dnc_listed\"}]', '{}', "
            "'4008001234', 'A1', 'marketing', 'r1', 't', now())"
        )
        for _ in range(200):
            await conn.execute(insert)
        runs = asyncio.gather(migrate(fresh_database), migrate(fresh_database))
        written = 0
        while not runs.done():
            await asyncio.wait_for(conn.execute(insert), timeout=5)
            written += 1
            await asyncio.sleep(0)
        applied = sorted(name for r in await runs for name in r)
        assert applied == ["014_calls_reasons_denied_only.sql"]
        assert written > 0
        count = await conn.fetchval(
            'SELECT count(*) FROM calls WHERE reasons @> \'[{"code": "dnc_listed"}]\' '
            "AND decision = 'deny'"
        )
        assert count == 200 + written
    finally:
        await conn.close()


# --- auth --------------------------------------------------------------------------------


async def test_missing_token_is_401(client: Any) -> None:
    resp = await client.get("/v1/whoami")
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthorized"


async def test_unknown_token_is_401(client: Any) -> None:
    resp = await client.get("/v1/whoami", headers=bearer("gw_000000000000_nope"))
    assert resp.status == 401


async def test_tampered_secret_is_401(client: Any, tokens: dict[str, str]) -> None:
    resp = await client.get("/v1/whoami", headers=bearer(tokens["admin"] + "x"))
    assert resp.status == 401


async def test_tampered_secret_is_401_after_the_real_one_was_accepted(
    client: Any, tokens: dict[str, str]
) -> None:
    assert (await client.get("/v1/whoami", headers=bearer(tokens["admin"]))).status == 200
    token_id = tokens["admin"].split("_")[1]
    for forged in (tokens["admin"][:-1], tokens["admin"] + "x", f"gw_{token_id}_x"):
        assert (await client.get("/v1/whoami", headers=bearer(forged))).status == 401
    assert (await client.get("/v1/whoami", headers=bearer(tokens["admin"]))).status == 200


async def test_whoami_names_the_token(client: Any, tokens: dict[str, str]) -> None:
    resp = await client.get("/v1/whoami", headers=bearer(tokens["auditor"]))
    assert resp.status == 200
    assert await resp.json() == {"name": "test-auditor", "role": "auditor"}


async def test_tokens_are_stored_as_hashes_only(db: Any, tokens: dict[str, str]) -> None:
    rows = await db.fetch("SELECT secret_hash FROM api_tokens")
    secrets_ = [t.split("_")[2].encode() for t in tokens.values()]
    for row in rows:
        assert all(s not in bytes(row["secret_hash"]) for s in secrets_)
        assert len(bytes(row["secret_hash"])) == 32
