"""Error answers in the contract's envelope, and the request id echoed."""

from __future__ import annotations

from typing import Any


async def test_unknown_route_is_404_envelope(client: Any) -> None:
    resp = await client.get("/v1/nothing-here")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "not_found"


async def test_wrong_method_is_405_envelope(client: Any) -> None:
    resp = await client.post("/healthz")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"


async def test_request_id_is_echoed(client: Any) -> None:
    resp = await client.get("/healthz", headers={"X-Request-Id": "abc-123"})
    assert resp.headers["X-Request-Id"] == "abc-123"
