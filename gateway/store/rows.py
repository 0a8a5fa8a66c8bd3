"""Small shared statements for registry tables. Table and column names come from the
code's own schemas (checked against a pattern), never from a request; values are bound."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from gateway.types import Conn, Db

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"not an identifier: {name!r}")
    return name


def _where(keys: Mapping[str, Any], start: int) -> str:
    return " AND ".join(f"{_ident(k)} = ${i}" for i, k in enumerate(keys, start))


async def fetch_one(
    conn: Conn, table: str, keys: Mapping[str, Any], *, lock: bool = False
) -> asyncpg.Record | None:
    sql = f"SELECT * FROM {_ident(table)} WHERE {_where(keys, 1)}"
    if lock:
        sql += " FOR UPDATE"
    return await conn.fetchrow(sql, *keys.values())


async def fetch_all(conn: Db, table: str, order_by: Sequence[str]) -> list[asyncpg.Record]:
    order = ", ".join(_ident(c) for c in order_by)
    return list(await conn.fetch(f"SELECT * FROM {_ident(table)} ORDER BY {order}"))


async def insert(conn: Conn, table: str, values: Mapping[str, Any]) -> asyncpg.Record | None:
    """Insert a row; None when a row with the same key exists."""
    cols = ", ".join(_ident(c) for c in values)
    params = ", ".join(f"${i}" for i in range(1, len(values) + 1))
    return await conn.fetchrow(
        f"INSERT INTO {_ident(table)} ({cols}) VALUES ({params}) "
        "ON CONFLICT DO NOTHING RETURNING *",
        *values.values(),
    )


async def update(
    conn: Conn, table: str, keys: Mapping[str, Any], changes: Mapping[str, Any]
) -> asyncpg.Record | None:
    sets = ", ".join(f"{_ident(c)} = ${i}" for i, c in enumerate(changes, 1))
    sql = (
        f"UPDATE {_ident(table)} SET {sets}, updated_at = now() "
        f"WHERE {_where(keys, len(changes) + 1)} RETURNING *"
    )
    return await conn.fetchrow(sql, *changes.values(), *keys.values())


def as_dict(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())
