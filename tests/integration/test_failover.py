"""Redis going away and coming back empty, with a Redis of the test's own."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from gateway.settings import Settings, load_settings
from tests.integration.tenant import OPEN_POLICY, Tenant, codes
from tests.integration.test_process import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs the redis-server binary"
)


class OwnRedis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    redis = OwnRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


async def until(predicate: Any, seconds: float = 10.0) -> Any:
    result = None
    for _ in range(int(seconds / 0.1)):
        result = await predicate()
        if result:
            return result
        await asyncio.sleep(0.1)
    return result


async def test_redis_restart_fails_closed_then_recovers_with_caps_intact(
    own_redis: OwnRedis,
    settings: Settings,
    make_client: Any,
    clock: Any,
    tokens: dict[str, str],
) -> None:
    own = load_settings(env={}, **{**msgspec.structs.asdict(settings), "redis_url": own_redis.url})
    await asyncio.sleep(0.2)
    client = await make_client(own, clock)
    tenant = Tenant(client, tokens)
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build()

    async def allowed() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[0]))
        return answer["decision"] == "allow"

    assert await until(allowed)
    capped = tenant.listed[3]
    for _ in range(2):
        assert (await tenant.precheck(tenant.marketing(capped)))["decision"] == "allow"
    assert codes(await tenant.precheck(tenant.marketing(capped))) == {"frequency_exceeded"}
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
    # The attempt counters were restored from the decisions: the cap still holds.
    assert codes(await tenant.precheck(tenant.marketing(capped))) == {"frequency_exceeded"}
