"""Each process holds an immutable snapshot of the registries and swaps in a new one when a
change is notified (or, as a safety net, when a periodic poll finds a newer version), so a
pre-call check reads no table."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import asyncpg

from gateway.core import metrics
from gateway.core.tasks import raise_if_stopping, stop
from gateway.policy import Snapshot
from gateway.store import registry_rows as reg

log = logging.getLogger("gateway.snapshot")


class RegistryCache:
    def __init__(self, pool: asyncpg.Pool, poll_seconds: float = 30.0) -> None:
        self._pool = pool
        self._lock = asyncio.Lock()
        self._poll_seconds = poll_seconds
        self._poller: asyncio.Task[None] | None = None
        self.current: Snapshot = Snapshot.empty()

    async def start(self) -> None:
        await self.reload_all()
        self._poller = asyncio.create_task(self._poll(), name="snapshot-poll")

    async def close(self) -> None:
        await stop(self._poller)

    async def reload_all(self) -> None:
        async with (
            self._lock,
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            snap = Snapshot(
                version=await reg.version(conn),
                policy=await reg.load_policy(conn),
                caller_ids=await reg.load_caller_ids(conn),
                scripts=await reg.load_scripts(conn),
                agents=await reg.load_agents(conn),
                campaigns=await reg.load_campaigns(conn),
                lists=await reg.load_lists(conn),
                staff_numbers=await reg.load_staff_numbers(conn),
                holidays=await reg.load_holidays(conn),
                complete_years=await reg.load_complete_years(conn),
            )
            self._swap(snap, "all")

    async def reload(self, part: str) -> None:
        """Reload one part named by a change notification ("agent:A1", "list:L1", ...)."""
        kind, _, key = part.partition(":")
        async with (
            self._lock,
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            snap = self.current
            changes: dict[str, Any] = {"version": max(snap.version, await reg.version(conn))}
            if kind == "policy":
                changes["policy"] = await reg.load_policy(conn)
            elif kind == "caller_ids":
                changes["caller_ids"] = await reg.load_caller_ids(conn)
            elif kind == "scripts":
                changes["scripts"] = await reg.load_scripts(conn)
            elif kind == "agent" and key:
                agents = dict(snap.agents)
                agents.pop(key, None)
                agents.update(await reg.load_agents(conn, key))
                changes["agents"] = agents
            elif kind == "campaigns":
                changes["campaigns"] = await reg.load_campaigns(conn)
            elif kind == "list" and key:
                lists = dict(snap.lists)
                lists.pop(key, None)
                lists.update(await reg.load_lists(conn, key))
                changes["lists"] = lists
            elif kind == "staff":
                changes["staff_numbers"] = await reg.load_staff_numbers(conn)
            elif kind == "holidays":
                # Calendar entries and year declarations: a year's days follow both.
                changes["holidays"] = await reg.load_holidays(conn)
                changes["complete_years"] = await reg.load_complete_years(conn)
            else:
                log.warning("unknown registry part %r; reloading everything", part)
            if len(changes) > 1:
                self._swap(snap.replace(**changes), kind)
                return
        await self.reload_all()

    def _swap(self, snap: Snapshot, part: str) -> None:
        self.current = snap
        metrics.SNAPSHOT_RELOADS.labels(part).inc()
        metrics.SNAPSHOT_VERSION.set(snap.version)

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            raise_if_stopping()
            try:
                latest = await reg.version(self._pool)
                if latest != self.current.version:
                    await self.reload_all()
            except (OSError, asyncpg.PostgresError) as e:
                log.warning("registry version poll failed: %s", e)
