"""Small shared statements for registry tables. Table and column names come from the
code's own schemas (checked against a pattern), never from a request; values are bound."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from gateway.core.aliases import Conn, Db

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


async def delete_one(conn: Conn, table: str, keys: Mapping[str, Any]) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"DELETE FROM {_ident(table)} WHERE {_where(keys, 1)} RETURNING *", *keys.values()
    )


def as_dict(row: asyncpg.Record) -> dict[str, Any]:
    return dict(row.items())


class Where:
    """A WHERE clause built from optional filters, every value bound as a parameter."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: list[Any] = []

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def add(self, template: str, value: Any) -> None:
        """Add `template` with `{}` standing for the bound value, unless it is None."""
        if value is not None:
            self.conditions.append(template.format(self.bind(value)))

    def sql(self) -> str:
        return f"WHERE {' AND '.join(self.conditions)}" if self.conditions else ""


async def newest_page(
    db: Db, table: str, key: str, where: Where, cursor: int | None, limit: int
) -> tuple[list[asyncpg.Record], str | None]:
    """One page of a table, newest first by an increasing integer key; the next cursor is
    the last key handed out."""
    where.add(f"{_ident(key)} < {{}}", cursor)
    limit_param = where.bind(limit + 1)
    rows = await db.fetch(
        f"SELECT * FROM {_ident(table)} {where.sql()} ORDER BY {_ident(key)} DESC "
        f"LIMIT {limit_param}",
        *where.params,
    )
    page = list(rows[:limit])
    return page, (str(page[-1][key]) if len(rows) > limit else None)
