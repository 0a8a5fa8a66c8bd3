"""Type aliases shared across the package."""

from __future__ import annotations

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection, whether opened alone or taken from a pool.
Conn: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any]"
# Anything that can run a query: a connection or the pool.
Db: TypeAlias = "asyncpg.Connection[Any] | PoolConnectionProxy[Any] | asyncpg.Pool[Any]"
