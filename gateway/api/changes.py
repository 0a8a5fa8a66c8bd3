"""How every registry change is made: in one transaction with its audit entry and a
version bump, then reloaded here before the answer (other processes reload on notify)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import msgspec
from aiohttp import web

from gateway.api.routing import principal
from gateway.appkeys import PG, REGISTRIES
from gateway.errors import InvalidRequest
from gateway.store import audit
from gateway.store.registries import bump
from gateway.types import Conn

log = logging.getLogger("gateway.registries")

T = TypeVar("T")

Change = Callable[[Conn], Awaitable[T]]


async def registry_change(request: web.Request, part: str, change: Change[T]) -> T:
    try:
        async with request.app[PG].acquire() as conn, conn.transaction():
            result = await change(conn)
            await bump(conn, part)
    except asyncpg.DataError as e:
        # The handlers check every value first; this is the net for one they missed
        # (a value PostgreSQL cannot store is bad input, never a 500).
        log.warning("registry change refused by the database: %s", e)
        raise InvalidRequest(f"a value cannot be stored: {e}") from e
    await request.app[REGISTRIES].reload(part)
    return result


async def audited(
    conn: Conn,
    request: web.Request,
    action: str,
    entity: str,
    entity_id: str,
    before: Any,
    after: Any,
    reason: str | None = None,
) -> None:
    await audit.record(
        conn,
        actor=principal(request).name,
        action=action,
        entity=entity,
        entity_id=entity_id,
        before=before,
        after=after,
        reason=reason,
    )


def set_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried."""
    return {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET
    }


def check_text(values: Mapping[str, Any]) -> None:
    """Refuse text PostgreSQL cannot store (a NUL character), naming the field."""
    for name, value in values.items():
        items = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for i, item in items:
            if isinstance(item, str) and "\x00" in item:
                where = name if i is None else f"{name}[{i}]"
                raise InvalidRequest(f"{where}: must not contain NUL characters")


def check_when(name: str, value: datetime | None) -> None:
    """A time must carry an offset and lie within the years PostgreSQL and Python share."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{name}: must carry a UTC offset (RFC 3339)")
    try:
        value.astimezone(UTC)
    except OverflowError as e:
        raise InvalidRequest(f"{name}: out of range") from e
