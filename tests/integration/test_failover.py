"""Redis going away and coming back empty, with a Redis of the test's own."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.appkeys import KEYS, REDIS
from gateway.core.settings import Settings, load_settings
from tests.integration.tenant import OPEN_POLICY, Tenant, codes, e164, until
from tests.support.headers import bearer
from tests.support.redis_server import OwnRedis

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def tenant_on(
    redis: OwnRedis, settings: Settings, make_client: Any, clock: Any, tokens: dict[str, str]
) -> Tenant:
    """A gateway on the test's own Redis with a tenant built, once it allows checks."""
    own = load_settings(env={}, **{**msgspec.structs.asdict(settings), "redis_url": redis.url})
    await asyncio.sleep(0.2)
    tenant = Tenant(await make_client(own, clock), tokens)
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build()

    async def allowed() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[0]))
        return answer["decision"] == "allow"

    assert await until(allowed)
    return tenant


async def test_redis_restart_fails_closed_then_recovers_with_caps_intact(
    own_redis: OwnRedis,
    settings: Settings,
    make_client: Any,
    clock: Any,
    tokens: dict[str, str],
) -> None:
    tenant = await tenant_on(own_redis, settings, make_client, clock, tokens)
    client = tenant.client
    capped = tenant.listed[3]
    for _ in range(2):
        assert (await tenant.precheck(tenant.marketing(capped)))["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.marketing(capped))) == {"frequency_exceeded"}
    app = client.server.app
    counter = app[KEYS].attempts(e164(capped))
    counted = await app[REDIS].zrange(counter, 0, -1, withscores=True)
    assert len(counted) == 2
    own_redis.stop()
    answer = await tenant.precheck(tenant.marketing(tenant.listed[1]))
    assert codes(answer) == {"gateway_degraded"}
    resp = await client.get("/readyz")
    assert resp.status == 503
    own_redis.start()  # back, and empty: the DNC cache must be rebuilt before any allow

    async def recovered() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[2]))
        assert codes(answer) <= {"gateway_degraded"}
        return answer["decision"] == "allow"

    assert await until(recovered)
    resp = await client.get("/readyz")
    assert resp.status == 200
    # The attempt counters were restored from the decisions, to the millisecond: the cap
    # still holds, and so would the shortest gap between calls.
    assert await app[REDIS].zrange(counter, 0, -1, withscores=True) == counted
    assert 0 < await app[REDIS].pttl(counter) <= 8 * 86_400_000
    assert codes(await tenant.precheck(tenant.marketing(capped))) == {"frequency_exceeded"}


async def test_a_retry_after_redis_lost_its_data_gets_the_first_answer(
    own_redis: OwnRedis,
    settings: Settings,
    make_client: Any,
    clock: Any,
    tokens: dict[str, str],
    db: Any,
) -> None:
    tenant = await tenant_on(own_redis, settings, make_client, clock, tokens)
    client = tenant.client  # its policy allows two attempts a day
    number = tenant.listed[1]
    first = tenant.marketing(number, request_id=f"first-{tenant.suffix}")
    denied = tenant.marketing(number, script_version=9, request_id=f"denied-{tenant.suffix}")

    async def post(body: dict[str, Any]) -> tuple[int, bytes]:
        resp = await client.post("/v1/precheck", json=body, headers=bearer(tokens["dialer"]))
        return resp.status, await resp.read()

    answers = {body["request_id"]: await post(body) for body in (first, denied)}
    assert await post(first) == answers[first["request_id"]]  # settled in Redis
    own_redis.stop()
    degraded = tenant.marketing(tenant.listed[2], request_id=f"degraded-{tenant.suffix}")
    status, body = await post(degraded)
    assert status == 200 and b"gateway_degraded" in body
    own_redis.start()  # back, and empty

    async def recovered() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[3]))
        return answer["decision"] == "allow"

    assert await until(recovered)
    # The same bytes as before Redis went away, and no new decision stored for them.
    for body in (first, denied):
        assert await post(body) == answers[body["request_id"]]
    stored = await db.fetchval(
        "SELECT count(*) FROM calls WHERE request_id = ANY($1::text[])",
        [first["request_id"], denied["request_id"]],
    )
    assert stored == 2
    # The replay counted no attempt: one more call to the number is allowed, then the cap.
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.marketing(number))) == {"frequency_exceeded"}
    # A retry with another body still conflicts.
    status, body = await post({**first, "callee": tenant.listed[4]})
    assert status == 409 and b"request_id_conflict" in body
    # The check that was denied because Redis was gone is judged again.
    again = await tenant.precheck(degraded)
    assert again["decision"] == "allow"
