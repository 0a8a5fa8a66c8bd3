"""The pre-call check's Redis commands, pipelined on one connection of their own.

redis-py spends about 100 µs of CPU on each command of the asyncio client (a pool
checkout, a timeout scope per read, a RESP parser written in Python), and its pipelines
still cost tens of µs per command; for the two commands of a check (the script and, with
a request_id, storing the answer) that was a third of a check's CPU. Here every command
issued during one turn of the event loop goes out in one write, and the replies, parsed
as they arrive, resolve the waiting checks directly.

It fails the way the redis-py client made by `create_redis` fails, with the same
exceptions, so callers are unchanged: a connection that cannot be made or breaks raises
ConnectionError, no reply within `socket_timeout` raises TimeoutError, an error reply
raises ResponseError (NoScriptError for NOSCRIPT). A command whose connection broke or
timed out is sent once more on a new connection, as `Retry(NoBackoff(), 1)` does, and then
fails. The connection is closed after `IDLE_SECONDS` without a command and opened again
on demand.

`send_later` is for a command nobody waits on (storing a check's answer for retries): it
goes out with the next command sent, or `LATER_SECONDS` after it was queued if none
comes, so that it costs no write and no reply of its own (at a few thousand checks a
second, a wake-up of this process and of Redis each per check). Its place in the order
is kept: a later command of this process reaches Redis after it.

`RedisPipe.for_client(redis)` uses the client's address, database and credentials. For a
client it cannot mirror (TLS, a credential provider) it sends each command through the
client itself.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

IDLE_SECONDS = 5.0
LATER_SECONDS = 0.01
DRAIN_SECONDS = 1.0
_ATTEMPTS = 2  # the first try and one retry, like create_redis's Retry(NoBackoff(), 1)


def pack(args: tuple[Any, ...]) -> bytes:
    """A command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            value = arg
        elif isinstance(arg, str):
            value = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            value = b"%d" % arg
        else:
            raise TypeError(f"cannot send a {type(arg).__name__} to Redis")
        parts.append(b"$%d\r\n%s\r\n" % (len(value), value))
    return b"".join(parts)


class _Incomplete(Exception):
    """The buffer ends inside a reply."""


class ProtocolError(Exception):
    pass


def parse(buf: bytearray, pos: int) -> tuple[Any, int]:
    """One RESP2 reply starting at `pos`: (value, position after it). An error reply is
    returned (not raised) as a ResponseError. Raises _Incomplete when more data is needed."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind = buf[pos]
    line = bytes(buf[pos + 1 : end])
    pos = end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise _Incomplete
        return bytes(buf[pos : pos + size]), pos + size + 2
    if kind == 0x2B:  # + simple string
        return line, pos
    if kind == 0x3A:  # : integer
        return int(line), pos
    if kind == 0x2D:  # - error
        text = line.decode("utf-8", "replace")
        if text.startswith("NOSCRIPT"):
            return NoScriptError(text), pos
        return ResponseError(text), pos
    if kind == 0x2A:  # * array
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = parse(buf, pos)
            items.append(item)
        return items, pos
    raise ProtocolError(f"unexpected reply type byte {kind!r} from Redis")


class _Command:
    __slots__ = ("data", "future", "sent_at", "tries")

    def __init__(self, data: bytes, future: asyncio.Future[Any]) -> None:
        self.data = data
        self.future = future
        self.sent_at = 0.0
        self.tries = 0


class _Protocol(asyncio.Protocol):
    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe

    def data_received(self, data: bytes) -> None:
        self._pipe._on_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._pipe._on_lost(exc)


class RedisPipe:
    def __init__(
        self,
        *,
        host: str = "localhost",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        socket_timeout: float | None = None,
        socket_connect_timeout: float | None = None,
        fallback: Redis | None = None,
    ) -> None:
        self._host = host
        self._port = port
        self._path = path
        self._handshake: list[tuple[Any, ...]] = []
        if password is not None:
            self._handshake.append(
                ("AUTH", password) if username is None else ("AUTH", username, password)
            )
        if db:
            self._handshake.append(("SELECT", db))
        self._timeout = socket_timeout
        self._connect_timeout = socket_connect_timeout
        self._fallback = fallback
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._queued: list[_Command] = []  # not written yet
        self._inflight: collections.deque[_Command] = collections.deque()  # awaiting replies
        self._buffer = bytearray()
        self._flush_scheduled = False
        self._later: asyncio.TimerHandle | None = None  # flushes send_later's commands
        self._timer: asyncio.TimerHandle | None = None
        self._idle: asyncio.TimerHandle | None = None
        self._last_sent = 0.0  # loop time of the last write
        self._failure: Exception | None = None  # why we are dropping the connection
        self._closed = False  # close() was called on the current connection

    @classmethod
    def for_client(cls, redis: Redis) -> RedisPipe:
        pool = redis.connection_pool
        kw = pool.connection_kwargs
        tcp = pool.connection_class is Connection
        unix = pool.connection_class is UnixDomainSocketConnection
        if kw.get("credential_provider") is not None or not (tcp or unix):
            return cls(fallback=redis)
        return cls(
            host=str(kw.get("host", "localhost")),
            port=int(kw.get("port", 6379)),
            path=str(kw["path"]) if unix else None,
            db=int(kw.get("db") or 0),
            username=kw.get("username"),
            password=kw.get("password"),
            socket_timeout=kw.get("socket_timeout"),
            socket_connect_timeout=kw.get("socket_connect_timeout"),
        )

    def send(self, *args: Any) -> asyncio.Future[Any]:
        """Sends one command; the future gives its reply or raises its error."""
        return self._send(args, later=False)

    def send_later(self, *args: Any) -> asyncio.Future[Any]:
        """Queues one command to go out with the next, within LATER_SECONDS."""
        return self._send(args, later=True)

    def _send(self, args: tuple[Any, ...], *, later: bool) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._fallback is not None:
            command: Any = self._fallback.execute_command
            return cast("asyncio.Future[Any]", asyncio.ensure_future(command(*args)))
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append(_Command(pack(args), future))
        if self._transport is None:
            if self._connecting is None:
                self._connecting = loop.create_task(self._connect())
        elif self._flush_scheduled:
            pass  # goes out with the flush already due
        elif not later:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        elif self._later is None:
            self._later = loop.call_later(LATER_SECONDS, self._flush_later)
        return future

    async def drain(self) -> None:
        """Writes what is queued and waits, up to DRAIN_SECONDS, for every reply."""
        if self._fallback is not None:
            return
        waiting = [c.future for c in (*self._inflight, *self._queued)]
        self._flush()
        if waiting:
            await asyncio.wait(waiting, timeout=DRAIN_SECONDS)

    def close(self) -> None:
        """Closes the connection once what is queued has been written. A command still
        awaiting its reply then fails instead of being sent again; one sent after this
        call opens a new connection."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self._transport is not None:
            self._flush()
            self._closed = True
            self._transport.close()

    # writing

    def _flush_later(self) -> None:
        self._later = None
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._transport is None or self._transport.is_closing() or not self._queued:
            return  # a closing connection's commands go out on the next one
        queued, self._queued = self._queued, []
        now = asyncio.get_running_loop().time()
        self._last_sent = now
        for command in queued:
            command.sent_at = now
        self._inflight.extend(queued)
        self._transport.write(b"".join(c.data for c in queued))
        self._arm_timer()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                try:
                    await self._open(loop)
                except Exception as e:
                    self._give_up_some(RedisConnectionError(f"Error connecting to Redis: {e}"))
                    continue
                self._flush()
                return
        finally:
            self._connecting = None

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        transport: asyncio.BaseTransport
        if self._path is not None:
            connect_unix = loop.create_unix_connection(lambda: _Protocol(self), self._path)
            transport, _ = await asyncio.wait_for(connect_unix, self._connect_timeout)
        else:
            connect = loop.create_connection(lambda: _Protocol(self), self._host, self._port)
            transport, _ = await asyncio.wait_for(connect, self._connect_timeout)
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._failure = None
        if self._handshake:
            steps = [_Command(pack(c), loop.create_future()) for c in self._handshake]
            for step in steps:
                step.tries = _ATTEMPTS - 1  # a lost connection fails them, not retries
            self._queued[:0] = steps
            self._flush()
            try:
                for step in steps:
                    await step.future
            except ResponseError as e:
                self._drop(RedisConnectionError(f"Redis refused the connection: {e}"))
                raise

    def _give_up_some(self, error: Exception) -> None:
        """A connection attempt failed: queued commands on their last try fail, the
        others try once more."""
        keep: list[_Command] = []
        for command in self._queued:
            command.tries += 1
            if command.tries >= _ATTEMPTS:
                if not command.future.done():
                    command.future.set_exception(error)
            else:
                keep.append(command)
        self._queued = keep

    # reading

    def _on_data(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        pos = 0
        inflight = self._inflight
        try:
            while pos < len(buffer):
                if not inflight:
                    raise ProtocolError("Redis sent a reply nobody asked for")
                value, pos = parse(buffer, pos)
                future = inflight.popleft().future
                if not future.done():
                    if isinstance(value, Exception):
                        future.set_exception(value)
                    else:
                        future.set_result(value)
        except _Incomplete:
            pass
        except (ProtocolError, ValueError) as e:
            self._drop(RedisConnectionError(f"Redis protocol error: {e}"))
            return
        del buffer[:pos]
        # The reply and idle timers are left running rather than cancelled and armed again
        # for every round trip: each checks, when it fires, whether it is still due.
        if not inflight and not self._queued and self._idle is None:
            self._idle = asyncio.get_running_loop().call_at(
                self._last_sent + IDLE_SECONDS, self._on_idle
            )

    def _on_idle(self) -> None:
        self._idle = None
        if self._inflight or self._queued:
            return  # armed again when the replies are in
        idle_until = self._last_sent + IDLE_SECONDS
        if asyncio.get_running_loop().time() >= idle_until:
            self.close()
        else:
            self._idle = asyncio.get_running_loop().call_at(idle_until, self._on_idle)

    # failure

    def _arm_timer(self) -> None:
        if self._timer is None and self._inflight and self._timeout is not None:
            deadline = self._inflight[0].sent_at + self._timeout
            self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        self._timer = None
        if not self._inflight or self._timeout is None:
            return
        if asyncio.get_running_loop().time() >= self._inflight[0].sent_at + self._timeout:
            self._drop(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._arm_timer()

    def _drop(self, error: Exception) -> None:
        self._failure = error
        if self._transport is not None:
            self._transport.abort()

    def _on_lost(self, exc: Exception | None) -> None:
        closed, self._closed = self._closed, False
        if closed:
            error: Exception = RedisConnectionError("the connection to Redis was closed")
        else:
            error = self._failure or RedisConnectionError(
                f"Connection to Redis lost: {exc}" if exc else "Connection closed by Redis"
            )
        self._failure = None
        self._transport = None
        self._buffer.clear()
        self._cancel_timer()
        retry: list[_Command] = []
        for command in self._inflight:
            command.tries += 1
            if closed or command.tries >= _ATTEMPTS:
                if not command.future.done():
                    command.future.set_exception(error)
            else:
                retry.append(command)
        self._inflight.clear()
        self._queued[:0] = retry
        if self._queued and self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())
