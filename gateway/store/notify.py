"""One LISTEN connection per process: PostgreSQL notifications fan out to callbacks, and
the connection is re-opened (with a full refresh) when it drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from gateway.core.tasks import raise_if_stopping, stop
from gateway.store.postgres import connect

log = logging.getLogger("gateway.notify")

Callback = Callable[[str], Awaitable[None]]
Resync = Callable[[], Awaitable[None]]


class Notifications:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._channels: dict[str, list[Callback]] = {}
        self._at_once: dict[str, list[Callable[[str], None]]] = {}
        self._resyncs: list[Resync] = []
        self._losses: list[Callable[[], None]] = []
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._handlers: set[asyncio.Task[None]] = set()
        self.connected = asyncio.Event()

    @property
    def up(self) -> bool:
        """Listening now: connected, and not found lost since."""
        return self._conn is not None and not self._lost.is_set()

    def subscribe(self, channel: str, callback: Callback) -> None:
        self._channels.setdefault(channel, []).append(callback)

    def listen_now(self, channel: str, callback: Callable[[str], None]) -> None:
        """A callback run as the notification arrives, before any other work of the
        process: it must be quick and must not fail."""
        self._at_once.setdefault(channel, []).append(callback)

    def on_reconnect(self, resync: Resync) -> None:
        """Called after every reconnect: notifications sent while away were lost."""
        self._resyncs.append(resync)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Called as soon as the connection is found lost: notifications are being missed
        from then until the reconnect's resync."""
        self._losses.append(callback)

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.create_task(self._watch(), name="pg-listener")

    async def close(self) -> None:
        await stop(self._task)
        for t in list(self._handlers):
            t.cancel()
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()

    async def _open(self) -> None:
        conn = await connect(self._dsn)
        conn.add_termination_listener(lambda _c: self._on_lost())
        for channel in self._channels.keys() | self._at_once.keys():
            await conn.add_listener(channel, self._dispatch)
        self._conn = conn
        self._lost.clear()
        self.connected.set()

    def _on_lost(self) -> None:
        for callback in self._losses:
            callback()
        self._lost.set()

    def _dispatch(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for at_once in self._at_once.get(channel, []):
            at_once(str(payload))
        for callback in self._channels.get(channel, []):
            task = asyncio.create_task(self._run(callback, str(payload)))
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)

    async def _run(self, callback: Callback, payload: str) -> None:
        try:
            await callback(payload)
        except Exception:
            log.exception("notification handler failed", extra={"fields": {"payload": payload}})

    async def _watch(self) -> None:
        while True:
            raise_if_stopping()
            await self._lost.wait()
            self.connected.clear()
            log.warning("listener connection lost; reconnecting")
            while True:
                try:
                    await self._open()
                    break
                except (OSError, asyncpg.PostgresError):
                    raise_if_stopping()
                    await asyncio.sleep(0.5)
            for resync in self._resyncs:
                try:
                    await resync()
                except Exception:
                    log.exception("resync after reconnect failed")
