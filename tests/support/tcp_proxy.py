"""A TCP proxy in front of a real server (Redis, PostgreSQL) for fault tests.

It runs in the test's own event loop, on 127.0.0.1 and a free port; the code under test,
in the same loop or in a subprocess given `proxy.port`, reaches the server through it:

    async with TcpProxy("127.0.0.1", 6379) as proxy:
        url = proxy.url("redis", "/0")
        ...
        proxy.mode = "drop"   # from now on connections are accepted and closed at once
        proxy.cut()           # and the open ones are closed now
        ...
        proxy.heal()          # forward again, from the next connection

`mode` says what becomes of a connection accepted from then on:

- "forward": bytes go both ways between the client and a new connection to the server.
- "drop": accepted and closed at once, before a byte is read or sent.
- "reject": accepted, sent `reject_reply` (by default Redis's answer when it is at
  `maxclients`), then closed.
- "stall": accepted, read and never answered. Connections already open stall too: from
  then on nothing they pass reaches the other side.
- "refuse": nothing listens on the port, so a connect is refused.
- "blackhole": a connect never completes (the port's accept queue is full, so a SYN goes
  unanswered): the client sees its connect time out.

Setting `mode` takes effect at once and keeps the port. Apart from "stall", a mode leaves
the open connections as they are: `cut()` closes them, both sides, at once. `heal()`
forwards again and closes the connections that stalled (they lost bytes). `stop()`, or
leaving the `async with`, closes the port and every connection.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["forward", "drop", "reject", "stall", "refuse", "blackhole"]

MAXCLIENTS_REPLY = b"-ERR max number of clients reached\r\n"

_LISTENING: frozenset[str] = frozenset({"forward", "drop", "reject", "stall"})


class _Side(asyncio.Protocol):
    """One end of a proxied connection."""

    def __init__(self, link: _Link) -> None:
        self._link = link
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._link.made(self)

    def data_received(self, data: bytes) -> None:
        self._link.passed(self, data)

    def eof_received(self) -> bool | None:
        self._link.close(flush=True)
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._link.close()


class _Link:
    """A client's connection to the proxy and, when forwarded, the proxy's to the server."""

    def __init__(self, proxy: TcpProxy, mode: str) -> None:
        self._proxy = proxy
        self._mode = mode  # the proxy's mode when it was accepted
        self.client = _Side(self)
        self.server: _Side | None = None
        self._pending = bytearray()  # from the client while the server connection opens
        self._opening: asyncio.Task[None] | None = None
        self.stalled = mode == "stall"
        self.closed = False

    def made(self, side: _Side) -> None:
        if side is not self.client:
            return
        assert side.transport is not None
        if self.closed:  # cut between its accept and now
            side.transport.abort()
            return
        if self._mode == "drop":
            self.close()
        elif self._mode == "reject":
            side.transport.write(self._proxy.reject_reply)
            self.close(flush=True)
        elif self._mode == "forward":
            self._opening = self._proxy._track(self._open())

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        server = _Side(self)
        proxy = self._proxy
        try:
            await loop.create_connection(lambda: server, proxy.upstream_host, proxy.upstream_port)
        except OSError:
            self._opening = None
            self.close()
            return
        self._opening = None
        assert server.transport is not None
        if self.closed:
            server.transport.abort()
            return
        self.server = server
        if self._pending:
            server.transport.write(bytes(self._pending))
            self._pending.clear()

    def passed(self, side: _Side, data: bytes) -> None:
        if self.closed:
            return
        if self.stalled or self._proxy.mode == "stall":
            self.stalled = True
            return  # read and dropped
        if side is self.client:
            if self.server is None:
                self._pending += data
                return
            target = self.server.transport
        else:
            target = self.client.transport
        if target is not None:
            target.write(data)

    def close(self, *, flush: bool = False) -> None:
        if self.closed:
            return
        self.closed = True
        self._proxy._links.discard(self)
        if self._opening is not None:
            self._opening.cancel()
            self._opening = None
        for side in (self.client, self.server):
            if side is not None and side.transport is not None:
                if flush:
                    side.transport.close()
                else:
                    side.transport.abort()


class TcpProxy:
    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        reject_reply: bytes = MAXCLIENTS_REPLY,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.reject_reply = reject_reply
        self.host = "127.0.0.1"
        self.port = 0
        self.accepted = 0  # connections accepted so far, whatever the mode
        self._mode: Mode = "forward"
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._starting: asyncio.Task[None] | None = None
        self._starting_sock: socket.socket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._blackhole: list[socket.socket] = []  # a full listener and what fills it

    @classmethod
    def for_url(cls, url: str) -> TcpProxy:
        """A proxy in front of the server named by a URL such as redis://host:port/0."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or 6379)

    def url(self, scheme: str = "redis", path: str = "/0") -> str:
        """The URL of the proxy, as `scheme://127.0.0.1:port` + path."""
        return f"{scheme}://{self.host}:{self.port}{path}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.get_running_loop().create_server(self._accept, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Closes the port and every connection."""
        self._close_listener()
        self.cut()
        while self._tasks:
            await asyncio.wait(self._tasks)
        await asyncio.sleep(0)  # lets the transports closed above finish

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def open_connections(self) -> int:
        return len(self._links)

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        was, self._mode = self._mode, mode
        if was == mode or (was in _LISTENING and mode in _LISTENING):
            return
        self._close_listener()
        if mode == "blackhole":
            self._fill_port()
        elif mode in _LISTENING:
            self._listen()

    def cut(self) -> None:
        """Closes every open connection, both sides, at once."""
        for link in list(self._links):
            link.close()

    def heal(self) -> None:
        """Forwards again from the next connection, and closes the ones that stalled."""
        self.mode = "forward"
        for link in list(self._links):
            if link.stalled:
                link.close()

    def _accept(self) -> asyncio.Protocol:
        self.accepted += 1
        link = _Link(self, self._mode)
        self._links.add(link)
        return link.client

    def _listen(self) -> None:
        # The socket listens from here on: a connect made before the server below starts
        # accepting waits in its queue.
        sock = socket.create_server((self.host, self.port))
        sock.setblocking(False)
        self._starting, self._starting_sock = self._track(self._serve(sock)), sock

    def _track(self, coro: Coroutine[None, None, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _serve(self, sock: socket.socket) -> None:
        try:
            server = await asyncio.get_running_loop().create_server(self._accept, sock=sock)
        except Exception:  # the socket was closed (the mode changed again) before it served
            sock.close()
            return
        if self._starting is asyncio.current_task():
            self._starting = self._starting_sock = None
            self._server = server
        else:
            server.close()

    def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()  # stops listening now; the connections stay
            self._server = None
        if self._starting_sock is not None:
            self._starting_sock.close()  # its server, if it got one, closes itself
            self._starting = self._starting_sock = None
        for sock in self._blackhole:
            sock.close()
        self._blackhole.clear()

    def _fill_port(self) -> None:
        listener = socket.create_server((self.host, self.port), backlog=0)
        self._blackhole.append(listener)
        for _ in range(2):  # a full accept queue: later SYNs are dropped, not refused
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex((self.host, self.port))
            self._blackhole.append(filler)
