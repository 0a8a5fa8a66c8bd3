"""Tokens expire: `--expires-in DAYS` (365 by default, 0 for never), an expired token is
401 `token_expired` on every route even while cached, and active names are unique."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta
from typing import Any

import pytest

from gateway.api.ops import OPENAPI
from gateway.core.errors import TokenExpired
from gateway.core.settings import Settings
from gateway.services.auth import NameTaken, TokenVerifier, create_token
from gateway.store.postgres import create_pool
from tests.support.processes import run_cli


def token_id(token: str) -> str:
    return token.split("_")[1]


async def expire(db: Any, token: str) -> None:
    """The token's expiry a second ago, and every process told (as a revocation is)."""
    await db.execute(
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE token_id = $1",
        token_id(token),
    )
    await db.execute("SELECT pg_notify('gateway_tokens', $1)", token_id(token))


async def whoami(client: Any, token: str) -> tuple[int, Any]:
    resp = await client.get("/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    return resp.status, await resp.json()


async def test_a_token_expires_in_a_year_by_default_and_is_listed_with_its_expiry(
    settings: Settings, db: Any
) -> None:
    name = f"crm-{secrets.token_hex(3)}"
    code, out, err = await run_cli(settings, "token", "create", "--role", "dialer", "--name", name)
    assert code == 0, err
    assert "expires in 365 days" in out
    expires = await db.fetchval(
        "SELECT expires_at - now() FROM api_tokens WHERE token_id = $1",
        token_id(out.strip().splitlines()[-1]),
    )
    assert timedelta(days=364) < expires <= timedelta(days=365)
    forever = f"switch-{secrets.token_hex(3)}"
    code, _, err = await run_cli(
        settings, "token", "create", "--role", "dialer", "--name", forever, "--expires-in", "0"
    )
    assert code == 0, err
    code, out, _ = await run_cli(settings, "token", "list")
    assert code == 0
    line = next(line for line in out.splitlines() if line.endswith(f" {name}"))
    assert re.search(r" active +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00 ", line), line
    line = next(line for line in out.splitlines() if line.endswith(f" {forever}"))
    assert re.search(r" active +never ", line), line


@pytest.mark.parametrize("days", ["-1", "36501", "soon"])
async def test_an_expiry_out_of_range_is_refused(settings: Settings, days: str) -> None:
    code, _, err = await run_cli(
        settings, "token", "create", "--role", "dialer", "--name", "x-range", "--expires-in", days
    )
    assert code == 2
    assert "expir" in err


async def test_active_token_names_are_unique(settings: Settings, db: Any) -> None:
    name = f"vendor-{secrets.token_hex(3)}"
    code, _, _ = await run_cli(settings, "token", "create", "--role", "auditor", "--name", name)
    assert code == 0
    code, _, err = await run_cli(settings, "token", "create", "--role", "admin", "--name", name)
    assert code == 2
    assert f"an active token is named '{name}'" in err
    assert await db.fetchval("SELECT count(*) FROM api_tokens WHERE name = $1", name) == 1
    # Revoked, the name is free again.
    assert (await run_cli(settings, "token", "revoke", name))[0] == 0
    code, _, err = await run_cli(settings, "token", "create", "--role", "admin", "--name", name)
    assert code == 0, err


async def test_an_expired_tokens_name_is_free_and_the_token_revoked_at_its_expiry(
    db: Any,
) -> None:
    name = f"old-{secrets.token_hex(3)}"
    first = await create_token(db, "dialer", name)
    with pytest.raises(NameTaken):
        await create_token(db, "dialer", name)
    await expire(db, first)
    await create_token(db, "dialer", name)
    row = await db.fetchrow(
        "SELECT revoked_at, expires_at FROM api_tokens WHERE token_id = $1", token_id(first)
    )
    assert row["revoked_at"] == row["expires_at"]


async def test_an_expired_token_is_401_token_expired_on_every_route(client: Any, db: Any) -> None:
    token = await create_token(db, "admin", f"every-{secrets.token_hex(3)}")
    assert (await whoami(client, token))[0] == 200  # cached now
    await expire(db, token)
    paths = client.server.app[OPENAPI]["paths"]
    tried = 0
    for path, operations in paths.items():
        for method, operation in operations.items():
            if "401" not in operation.get("responses", {}):
                continue
            url = re.sub(r"\{[^}]+\}", "1", path)
            resp = await client.request(
                method.upper(),
                url,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                data=b"{}",
            )
            body = await resp.json()
            assert (resp.status, body["error"]["code"]) == (401, "token_expired"), (method, path)
            assert body["error"]["message_zh"].startswith("令牌已过期")
            assert token.split("_")[2] not in body["error"]["message"]
            tried += 1
    assert tried > 40


async def test_a_cached_token_stops_at_its_expiry(settings: Settings, db: Any) -> None:
    token = await create_token(db, "dialer", f"cached-{secrets.token_hex(3)}", expires_in_days=1)
    expires_at: datetime = await db.fetchval(
        "SELECT expires_at FROM api_tokens WHERE token_id = $1", token_id(token)
    )
    now = [expires_at.timestamp() - 1]
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        verifier = TokenVerifier(pool, now=lambda: now[0])
        assert (await verifier.verify(token)) is not None
        assert (await verifier.verify(token)) is not None  # from the cache
        now[0] = expires_at.timestamp()
        with pytest.raises(TokenExpired):
            await verifier.verify(token)
        # A wrong secret for the expired token's id is unknown, not expired.
        assert await verifier.verify(token[:-2] + "zz") is None
    finally:
        await pool.close()
