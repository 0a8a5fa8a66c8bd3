"""The Redis client: short timeouts, so an unreachable Redis fails a check fast and closed."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def create_redis(url: str) -> Redis:
    client: Redis = Redis.from_url(
        url,
        socket_timeout=1.0,
        socket_connect_timeout=0.5,
        retry=Retry(NoBackoff(), 1),
        health_check_interval=0,
        max_connections=200,
        decode_responses=False,
    )
    return client
