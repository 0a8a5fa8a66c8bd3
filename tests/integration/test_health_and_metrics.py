"""Liveness, readiness and the metrics page."""

from __future__ import annotations

from typing import Any

from gateway.core.settings import Settings, load_settings


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


async def test_metrics_are_prometheus_text(client: Any) -> None:
    await client.get("/healthz")
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "gateway_http_requests_total" in await resp.text()
