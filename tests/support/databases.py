"""Where the tests' PostgreSQL and Redis are."""

from __future__ import annotations

import os

ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def db_url(name: str) -> str:
    """The URL of database `name` on the server of ADMIN_URL."""
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"
