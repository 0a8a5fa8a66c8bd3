"""Bearer tokens: refused when missing, unknown or tampered with; stored as hashes."""

from __future__ import annotations

from typing import Any

from tests.support.headers import bearer


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
