"""PostgreSQL unreachable under a running gateway: clear 503s, never a 500, and a clean
recovery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, until
from tests.support.databases import ADMIN_URL
from tests.support.headers import bearer


class Outage:
    def __init__(self, admin: asyncpg.Connection, name: str) -> None:
        self.admin = admin
        self.name = name

    async def begin(self) -> None:
        await self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        await self.admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            self.name,
        )

    async def end(self) -> None:
        await self.admin.execute(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


@pytest.fixture
async def outage(database_url: str) -> AsyncIterator[Outage]:
    admin = await asyncpg.connect(ADMIN_URL)
    o = Outage(admin, database_url.rpartition("/")[2])
    try:
        yield o
    finally:
        await o.end()
        await admin.close()


async def test_database_outage_answers_503_and_recovers(
    client: Any, tokens: dict[str, str], outage: Outage, db: Any
) -> None:
    tenant = Tenant(client, tokens)
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build()
    await outage.begin()
    # A decision cannot be recorded: the dialer must not dial.
    status, body = await tenant.call("POST", "/v1/precheck", "dialer", json=tenant.marketing())
    assert status == 503
    assert body["error"]["code"] == "unavailable"
    # A token not seen before cannot be checked.
    resp = await client.get("/v1/whoami", headers=bearer("gw_aaaaaaaaaaaa_unknown"))
    assert resp.status == 503
    # A supervisor's change is refused, not half made.
    status, body = await tenant.call("PATCH", f"/v1/agents/{tenant.agent}", json={"active": False})
    assert status == 503, body
    assert (await client.get("/readyz")).status == 503
    await outage.end()
    # Until the gateway listens for do-not-call changes again (those made meanwhile were
    # not heard), checks are denied as degraded.
    for _ in range(100):
        status, answer = await tenant.call(
            "POST", "/v1/precheck", "dialer", json=tenant.marketing(tenant.listed[1])
        )
        if status == 200 and answer["decision"] == "allow":
            break
        await asyncio.sleep(0.1)
    assert status == 200
    assert answer["decision"] == "allow", answer
    assert (await client.get("/readyz")).status == 200


async def test_a_failed_resync_after_the_listener_reconnects_is_tried_again(
    client: Any, tokens: dict[str, str], db: Any, monkeypatch: Any
) -> None:
    """After its listener reconnects a process must learn PostgreSQL's newest do-not-call
    change before it may allow a check; when that read fails, it tries again rather than
    deny every check until the next disconnection."""
    from gateway.appkeys import DNC, NOTIFICATIONS
    from gateway.store import dnc_changes

    tenant = Tenant(client, tokens)
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build()
    app = client.server.app
    real = dnc_changes.latest
    failures = 2

    async def flaky(db_: Any) -> int:
        nonlocal failures
        if failures:
            failures -= 1
            raise OSError("connection reset")
        return await real(db_)

    monkeypatch.setattr(dnc_changes, "latest", flaky)
    listener = app[NOTIFICATIONS]._conn
    assert listener is not None
    await db.execute("SELECT pg_terminate_backend($1)", listener.get_server_pid())

    async def lost() -> bool:
        return not app[DNC].known.listening

    assert await until(lost)  # and checks are denied meanwhile

    async def allowed() -> bool:
        status, answer = await tenant.call(
            "POST", "/v1/precheck", "dialer", json=tenant.marketing(tenant.listed[2])
        )
        return status == 200 and answer["decision"] == "allow"

    assert await until(allowed)
    assert failures == 0
    assert app[DNC].known.listening
