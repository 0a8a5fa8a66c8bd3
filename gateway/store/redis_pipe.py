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

Every command ends, with its reply or one of those errors, within a bound, whatever Redis
or the network in between does: a connect gives up after `socket_connect_timeout` (if
None, `socket_timeout`; if that is None too, `CONNECT_SECONDS`), the AUTH and SELECT that
open a connection after `socket_timeout` (if None, the connect timeout), a reply after
`socket_timeout`. With the retry, a command ends within twice the three together: with
`create_redis`'s timeouts within 3 s (5 s with a password or a database), and within 1 s
when connects do not complete. Only with `socket_timeout` None is a reply waited for as
long as it takes, as redis-py does. Commands go out on a new connection once its AUTH and
SELECT are answered. A connection Redis closes as it is opened (at `maxclients` Redis
sends an error, then closes) is one that cannot be made, and anything Redis sends that no
command asked for closes the connection. Whatever failed, the next command opens a new
connection: no failure leaves the pipe stuck.

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
CONNECT_SECONDS = 1.0  # the connect timeout when neither timeout is given
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
    """One connection to Redis. Until the pipe takes it up (`RedisPipe._protocol`) nothing
    has been asked on it, so what Redis sends then is a refusal (at `maxclients` Redis
    sends an error and closes): it is closed, and `_open` sees that it was lost."""

    __slots__ = ("_pipe", "lost", "transport", "unasked")

    def __init__(self, pipe: RedisPipe) -> None:
        self._pipe = pipe
        self.transport: asyncio.Transport | None = None
        self.lost = False
        self.unasked = b""  # what Redis sent before the pipe took the connection up

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self._pipe._protocol is self:
            self._pipe._on_data(data)
        elif self.transport is not None:
            self.unasked = self.unasked or bytes(data[:200])
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self._pipe._protocol is self:
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
        self._connect_timeout: float = next(
            t for t in (socket_connect_timeout, socket_timeout, CONNECT_SECONDS) if t is not None
        )
        self._handshake_timeout = (
            self._connect_timeout if socket_timeout is None else socket_timeout
        )
        self._fallback = fallback
        # The connection in use, from the moment it is taken up (before its handshake) until
        # it is let go; its transport once it is ready for commands (after the handshake).
        self._protocol: _Protocol | None = None
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
        if self._transport is not None:  # (the flush lets go of a connection found closing)
            self._transport.close()
            self._let_go(RedisConnectionError("the connection to Redis was closed"), resend=False)

    # writing

    def _flush_later(self) -> None:
        self._later = None
        self._flush()

    def _flush(self) -> None:
        self._flush_scheduled = False
        transport = self._transport
        if transport is None:
            if self._queued and self._connecting is None:
                self._connecting = asyncio.get_running_loop().create_task(self._connect())
            return  # the connection being opened writes them when it is ready
        if not self._queued:
            return
        if transport.is_closing():
            # Lost, and the pipe not told yet: these go out on a new connection.
            self._drop(RedisConnectionError("Connection closed by Redis"))
            return
        queued, self._queued = self._queued, []
        now = asyncio.get_running_loop().time()
        self._last_sent = now
        for command in queued:
            command.sent_at = now
        self._inflight.extend(queued)
        transport.write(b"".join(c.data for c in queued))
        self._arm_timer()

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queued:
                try:
                    await self._open(loop)
                except RedisConnectionError as e:
                    self._give_up_some(e)
                    continue
                except Exception as e:
                    self._give_up_some(RedisConnectionError(f"Error connecting to Redis: {e}"))
                    continue
                break
        finally:
            self._connecting = None
        self._flush()

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        """Opens a connection and takes it up, its handshake done; or raises, within the
        connect and handshake timeouts, with the connection closed."""
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._path is not None:
                    _, protocol = await loop.create_unix_connection(
                        lambda: _Protocol(self), self._path
                    )
                else:
                    _, protocol = await loop.create_connection(
                        lambda: _Protocol(self), self._host, self._port
                    )
        except TimeoutError:
            raise RedisConnectionError(
                f"Timeout connecting to Redis after {self._connect_timeout} s"
            ) from None
        transport = protocol.transport
        assert transport is not None
        if protocol.lost or transport.is_closing():
            # Closed by Redis (or by the protocol, for what Redis sent) before it was taken up.
            transport.abort()
            raise RedisConnectionError(_refusal(protocol.unasked))
        self._protocol = protocol
        if self._handshake:
            await self._greet(loop, protocol, transport)
        if self._protocol is not protocol or transport.is_closing():
            if self._protocol is protocol:
                self._drop(RedisConnectionError("Connection closed by Redis"))
            raise RedisConnectionError("Connection closed by Redis as it was opened")
        self._transport = transport

    async def _greet(
        self, loop: asyncio.AbstractEventLoop, protocol: _Protocol, transport: asyncio.Transport
    ) -> None:
        """Sends AUTH and SELECT and waits for their replies, up to the handshake timeout.
        Commands are written once they are in."""
        steps = [_Command(pack(c), loop.create_future()) for c in self._handshake]
        self._last_sent = loop.time()
        for step in steps:
            step.tries = _ATTEMPTS - 1  # a lost connection fails them, not retries
        self._inflight.extend(steps)
        transport.write(b"".join(step.data for step in steps))
        try:
            async with asyncio.timeout(self._handshake_timeout):
                for step in steps:
                    await step.future
        except ResponseError as e:
            error: Exception = RedisConnectionError(f"Redis refused the connection: {e}")
            self._abandon(protocol, steps, error)
            raise error from None
        except TimeoutError:
            error = RedisTimeoutError("Timeout reading from Redis")
            self._abandon(protocol, steps, error)
            raise error from None
        except BaseException:  # lost (and so let go of already), or cancelled
            self._abandon(protocol, steps, RedisConnectionError("Connection closed by Redis"))
            raise

    def _abandon(self, protocol: _Protocol, steps: list[_Command], error: Exception) -> None:
        """The handshake failed: its connection is closed, and its steps' errors are
        retrieved (the first is raised)."""
        if self._protocol is protocol:
            self._drop(error)
        for step in steps:
            if step.future.done() and not step.future.cancelled():
                step.future.exception()

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

    def _on_lost(self, exc: Exception | None) -> None:
        self._let_go(
            RedisConnectionError(
                f"Connection to Redis lost: {exc}" if exc else "Connection closed by Redis"
            )
        )

    def _drop(self, error: Exception) -> None:
        """Closes the connection in use at once and lets go of it."""
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.abort()
        self._let_go(error)

    def _let_go(self, error: Exception, *, resend: bool = True) -> None:
        """Stops using the current connection, now: what it sends from here on is ignored.
        A command awaiting its reply on it fails with `error`, or with `resend` is sent
        again on a new connection if it has a try left."""
        self._protocol = None
        self._transport = None
        self._buffer.clear()
        self._cancel_timer()
        retry: list[_Command] = []
        for command in self._inflight:
            command.tries += 1
            if resend and command.tries < _ATTEMPTS:
                retry.append(command)
            elif not command.future.done():
                command.future.set_exception(error)
        self._inflight.clear()
        self._queued[:0] = retry
        if self._queued and self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_task(self._connect())


def _refusal(unasked: bytes) -> str:
    """Why Redis closed a connection as it was opened, from what it sent first."""
    if unasked.startswith(b"-"):
        reason = unasked[1:].split(b"\r\n", 1)[0].decode("utf-8", "replace")
        return f"Redis refused the connection: {reason}"
    if unasked:
        return f"Redis sent {unasked[:40]!r} before any command and was disconnected"
    return "Connection closed by Redis as it was opened"
