"""How every registry change is made: in one transaction with its audit entry and a
version bump, then reloaded here before the answer (other processes reload on notify)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from aiohttp import web

from gateway.api.routing import principal
from gateway.appkeys import PG, REGISTRIES
from gateway.store import audit
from gateway.store.registries import bump
from gateway.types import Conn

T = TypeVar("T")

Change = Callable[[Conn], Awaitable[T]]


async def registry_change(request: web.Request, part: str, change: Change[T]) -> T:
    async with request.app[PG].acquire() as conn, conn.transaction():
        result = await change(conn)
        await bump(conn, part)
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
