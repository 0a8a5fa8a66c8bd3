"""The check's pipelined Redis connection: replies in order, errors as redis-py raises them,
one retry after a broken connection or a timeout, credentials and database on connect."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.store import redis_pipe
from gateway.store.redis import create_redis
from gateway.store.redis_pipe import RedisPipe, _Incomplete, pack, parse
from tests.support.databases import REDIS_URL
from tests.support.processes import free_port
from tests.support.tcp_proxy import MAXCLIENTS_REPLY, Mode, TcpProxy

CLOSE = object()  # a handler's answer: drop the connection instead of replying

Handler = Callable[[list[bytes], int], Any]  # (command, connection number) -> reply


class FakeRedis:
    """Speaks just enough RESP: each command goes to `handler`, which returns the raw
    reply, None (no reply) or CLOSE. `greeting(connection number)` is written on accept,
    before any command."""

    def __init__(self, handler: Handler, greeting: Callable[[int], bytes] | None = None) -> None:
        self.handler = handler
        self.greeting = greeting
        self.received: list[tuple[int, list[bytes]]] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> FakeRedis:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        buffer = bytearray()
        if self.greeting is not None:
            writer.write(self.greeting(number))
        try:
            while data := await reader.read(65536):
                buffer += data
                while True:
                    try:
                        command, used = parse(buffer, 0)
                    except _Incomplete:
                        break
                    del buffer[:used]
                    self.received.append((number, command))
                    reply = self.handler(command, number)
                    if reply is CLOSE:
                        writer.close()
                        return
                    if reply is not None:
                        writer.write(reply)
        finally:
            writer.close()


def echo(command: list[bytes], connection: int) -> bytes:
    value = command[-1]
    return b"$%d\r\n%s\r\n" % (len(value), value)


def pipe_for(server: FakeRedis, **kw: Any) -> RedisPipe:
    kw.setdefault("socket_timeout", 1.0)
    kw.setdefault("socket_connect_timeout", 0.5)
    return RedisPipe(host="127.0.0.1", port=server.port, **kw)


# --- the wire format ---------------------------------------------------------------------


def test_pack_writes_bulk_strings() -> None:
    assert pack(("SET", b"k\r\n", 10)) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n10\r\n"
    with pytest.raises(TypeError):
        pack(("SET", "k", True))
    with pytest.raises(TypeError):
        pack(("SET", "k", 1.5))


def test_parse_reads_every_reply_kind() -> None:
    buf = bytearray(b"+OK\r\n:-3\r\n$-1\r\n$4\r\na\r\nb\r\n*2\r\n$1\r\nx\r\n*1\r\n:1\r\n")
    values = []
    pos = 0
    while pos < len(buf):
        value, pos = parse(buf, pos)
        values.append(value)
    assert values == [b"OK", -3, None, b"a\r\nb", [b"x", [1]]]
    error, _ = parse(bytearray(b"-NOSCRIPT No matching script\r\n"), 0)
    assert isinstance(error, NoScriptError)
    error, _ = parse(bytearray(b"-ERR wrong\r\n"), 0)
    assert type(error) is ResponseError and str(error) == "ERR wrong"


@pytest.mark.parametrize("whole", [b"$5\r\nhello\r\n", b"*2\r\n:1\r\n$2\r\nab\r\n", b"+OK\r\n"])
def test_parse_waits_for_the_whole_reply(whole: bytes) -> None:
    for cut in range(len(whole)):
        with pytest.raises(_Incomplete):
            parse(bytearray(whole[:cut]), 0)


async def test_replies_split_anywhere_reach_the_right_callers() -> None:
    pipe = RedisPipe()
    loop = asyncio.get_running_loop()
    futures = [loop.create_future() for _ in range(3)]
    pipe._inflight.extend(redis_pipe._Command(b"", f) for f in futures)
    stream = b"$3\r\none\r\n-ERR no\r\n:42\r\n"
    for i in range(len(stream)):
        pipe._on_data(stream[i : i + 1])
    assert futures[0].result() == b"one"
    assert isinstance(futures[1].exception(), ResponseError)
    assert futures[2].result() == 42
    pipe._cancel_timer()
    if pipe._idle is not None:
        pipe._idle.cancel()


# --- against a fake server ---------------------------------------------------------------


async def test_concurrent_commands_share_a_connection_and_keep_their_order() -> None:
    async with FakeRedis(echo) as server:
        pipe = pipe_for(server)
        values = [f"v{i}".encode() for i in range(200)]
        replies = await asyncio.gather(*(pipe.send("ECHO", v) for v in values))
        assert replies == values
        assert server.connections == 1
        pipe.close()


async def test_a_later_command_goes_out_with_the_next_one_in_order() -> None:
    async with FakeRedis(echo) as server:
        pipe = pipe_for(server)
        assert await pipe.send("ECHO", "open") == b"open"
        stored = pipe.send_later("ECHO", "later")
        await asyncio.sleep(redis_pipe.LATER_SECONDS / 4)
        assert [c for _, c in server.received] == [[b"ECHO", b"open"]]
        assert await pipe.send("ECHO", "next") == b"next"
        assert stored.done() and stored.result() == b"later"
        assert [c[1] for _, c in server.received] == [b"open", b"later", b"next"]
        pipe.close()


async def test_a_later_command_alone_goes_out_within_its_delay() -> None:
    async with FakeRedis(echo) as server:
        pipe = pipe_for(server)
        assert await pipe.send("ECHO", "open") == b"open"
        assert await asyncio.wait_for(pipe.send_later("ECHO", "alone"), 1.0) == b"alone"
        pipe.close()


async def test_drain_stores_later_commands_and_close_never_resends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_pipe, "LATER_SECONDS", 60.0)

    def handler(command: list[bytes], connection: int) -> bytes | None:
        return None if command[-1] == b"hold" else echo(command, connection)

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server)
        assert await pipe.send("ECHO", "open") == b"open"
        last = pipe.send_later("ECHO", "last")
        await pipe.drain()
        assert last.result() == b"last"
        held = pipe.send("ECHO", "hold")
        await asyncio.sleep(0.05)
        pipe.close()
        with pytest.raises(RedisConnectionError):
            await asyncio.wait_for(held, 1.0)
        await asyncio.sleep(0.05)
        assert [c[1] for _, c in server.received] == [b"open", b"last", b"hold"]
        assert server.connections == 1


async def test_error_replies_raise_and_the_connection_stays_usable() -> None:
    def handler(command: list[bytes], connection: int) -> bytes:
        if command[0] == b"EVALSHA":
            return b"-NOSCRIPT No matching script. Please use EVAL.\r\n"
        if command[0] == b"BAD":
            return b"-ERR unknown command 'BAD'\r\n"
        return b"+OK\r\n"

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server)
        with pytest.raises(NoScriptError):
            await pipe.send("EVALSHA", "abc", 0)
        with pytest.raises(ResponseError):
            await pipe.send("BAD")
        assert await pipe.send("SET", "k", "v") == b"OK"
        assert server.connections == 1
        pipe.close()


async def test_a_connection_dropped_mid_command_is_retried_once_on_a_new_one() -> None:
    def handler(command: list[bytes], connection: int) -> Any:
        return CLOSE if connection == 1 else b"+OK\r\n"

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server)
        assert await pipe.send("SET", "k", "v") == b"OK"
        assert [c for c, _ in server.received] == [1, 2]
        pipe.close()


async def test_a_connection_dropped_twice_fails_the_command() -> None:
    async with FakeRedis(lambda command, connection: CLOSE) as server:
        pipe = pipe_for(server)
        with pytest.raises(RedisConnectionError):
            await pipe.send("SET", "k", "v")
        assert len(server.received) == 2


async def test_no_reply_times_out_after_one_retry() -> None:
    async with FakeRedis(lambda command, connection: None) as server:
        pipe = pipe_for(server, socket_timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await pipe.send("GET", "k")
        assert 0.35 < loop.time() - started < 1.5
        assert [c for c, _ in server.received] == [1, 2]


async def test_a_reply_that_stops_coming_later_still_times_out_on_time() -> None:
    # The reply timer armed for the first command keeps running after its reply; it must
    # still give the later command its whole timeout, and no more.
    def handler(command: list[bytes], connection: int) -> bytes | None:
        return echo(command, connection) if command[-1] == b"first" else None

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server, socket_timeout=0.2)
        loop = asyncio.get_running_loop()
        assert await pipe.send("ECHO", "first") == b"first"
        await asyncio.sleep(0.15)
        started = loop.time()
        with pytest.raises(RedisTimeoutError):
            await pipe.send("ECHO", "second")
        assert 0.35 < loop.time() - started < 1.5
        assert [c[1] for _, c in server.received] == [b"first", b"second", b"second"]


async def test_an_unreachable_redis_is_a_connection_error() -> None:
    async with FakeRedis(echo) as server:
        port = server.port
    pipe = RedisPipe(host="127.0.0.1", port=port, socket_timeout=1.0, socket_connect_timeout=0.5)
    with pytest.raises(RedisConnectionError):
        await pipe.send("GET", "k")
    # and it connects once Redis answers again
    async with FakeRedis(echo) as server:
        pipe = pipe_for(server)
        assert await pipe.send("ECHO", "back") == b"back"
        pipe.close()


async def test_credentials_and_database_go_first_on_each_connection() -> None:
    def handler(command: list[bytes], connection: int) -> Any:
        if command[0] == b"GET" and connection == 1:
            return CLOSE
        return b"+OK\r\n"

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server, username="gw", password="s3cret", db=3)
        assert await pipe.send("GET", "k") == b"OK"
        assert server.received == [
            (1, [b"AUTH", b"gw", b"s3cret"]),
            (1, [b"SELECT", b"3"]),
            (1, [b"GET", b"k"]),
            (2, [b"AUTH", b"gw", b"s3cret"]),
            (2, [b"SELECT", b"3"]),
            (2, [b"GET", b"k"]),
        ]
        pipe.close()


async def test_refused_credentials_fail_the_commands() -> None:
    def handler(command: list[bytes], connection: int) -> bytes:
        if command[0] == b"AUTH":
            return b"-WRONGPASS invalid username-password pair\r\n"
        return b"-NOAUTH Authentication required.\r\n"

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server, password="wrong")
        with pytest.raises((RedisConnectionError, ResponseError)):
            await pipe.send("GET", "k")


async def test_an_idle_connection_is_closed_and_opened_again_on_demand(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(redis_pipe, "IDLE_SECONDS", 0.05)
    async with FakeRedis(echo) as server:
        pipe = pipe_for(server)
        assert await pipe.send("ECHO", "a") == b"a"
        await asyncio.sleep(0.2)
        assert pipe._transport is None
        assert await pipe.send("ECHO", "b") == b"b"
        assert server.connections == 2
        pipe.close()


# --- against Redis -----------------------------------------------------------------------


@pytest.fixture
async def real_pipe() -> AsyncIterator[tuple[RedisPipe, str]]:
    client = create_redis(REDIS_URL)
    pipe = RedisPipe.for_client(client)
    key = f"gwtest:pipe:{secrets.token_hex(4)}"
    yield pipe, key
    await client.delete(key)
    pipe.close()
    await client.aclose()


async def test_against_redis(real_pipe: tuple[RedisPipe, str]) -> None:
    pipe, key = real_pipe
    assert await pipe.send("SET", key, b"\x00\xff value", "EX", 60) == b"OK"
    assert await pipe.send("GET", key) == b"\x00\xff value"
    with pytest.raises(NoScriptError):
        await pipe.send("EVALSHA", "0" * 40, 0)
    assert await pipe.send("EVAL", "return {1, 'two', {3}}", 0) == [1, b"two", [3]]


async def test_a_killed_connection_is_reopened(real_pipe: tuple[RedisPipe, str]) -> None:
    pipe, key = real_pipe
    client = create_redis(REDIS_URL)
    try:
        own_id = await pipe.send("CLIENT", "ID")
        await client.execute_command("CLIENT", "KILL", "ID", own_id)
        await asyncio.sleep(0.05)
        assert await pipe.send("SET", key, "after", "EX", 60) == b"OK"
        assert await client.get(key) == b"after"
    finally:
        await client.aclose()


# --- faults: every command finishes, and the pipe recovers by itself ----------------------
#
# Through a TCP proxy in front of the real Redis (tests/support/tcp_proxy.py) or against a
# redis-server of the test's own. Each command sent during a fault must finish, with its
# reply or an error, within BOUND: at most two connection attempts, each a connect, the
# handshake and a reply, with three times that to spare for a loaded machine (the bound
# says the command finishes, not how fast). Once the fault is gone the next command works.

TIMEOUT = 0.5  # socket_timeout of the pipes below
CONNECT = 0.5  # socket_connect_timeout
BOUND = 3 * 2 * (CONNECT + 2 * TIMEOUT)


def proxied(proxy: TcpProxy, *, handshake: bool = False, **kw: Any) -> RedisPipe:
    """A pipe to Redis through `proxy`; with `handshake`, every connection starts with a
    SELECT (the database does not matter to ECHO)."""
    kw.setdefault("socket_timeout", TIMEOUT)
    kw.setdefault("socket_connect_timeout", CONNECT)
    return RedisPipe(host=proxy.host, port=proxy.port, db=1 if handshake else 0, **kw)


def redis_proxy() -> TcpProxy:
    return TcpProxy.for_url(REDIS_URL)


async def stream(pipe: RedisPipe, count: int = 20, every: float = 0.01) -> list[Any]:
    """Sends `count` ECHO commands, one every `every` seconds, and waits for them: each
    must finish within BOUND. Their replies, or the errors they raised."""
    sends: list[asyncio.Future[Any]] = []
    for i in range(count):
        sends.append(pipe.send("ECHO", b"s%d" % i))
        await asyncio.sleep(every)
    return await settled(sends)


async def settled(sends: list[asyncio.Future[Any]], bound: float = BOUND) -> list[Any]:
    _, waiting = await asyncio.wait(sends, timeout=bound)
    assert not waiting, f"{len(waiting)} of {len(sends)} commands still waiting after {bound} s"
    return [f.exception() or f.result() for f in sends]


def each_is(results: list[Any], *errors: type[Exception]) -> None:
    """Every result is the command's own reply (ECHO b"s<i>") or one of `errors`."""
    for i, result in enumerate(results):
        if isinstance(result, Exception):
            assert isinstance(result, errors), repr(result)
        else:
            assert result == b"s%d" % i, (i, result)


async def works(pipe: RedisPipe) -> None:
    """The next commands succeed, each with its own reply."""
    for word in (b"back", b"again"):
        assert await asyncio.wait_for(pipe.send("ECHO", word), BOUND) == word


async def test_a_refused_connect_fails_each_command_and_then_recovers() -> None:
    async with redis_proxy() as proxy:
        pipe = proxied(proxy)
        await works(pipe)
        proxy.mode = "refuse"
        proxy.cut()
        results = await stream(pipe)
        each_is(results, RedisConnectionError)
        assert all(isinstance(r, Exception) for r in results)
        proxy.heal()
        await works(pipe)
        pipe.close()


@pytest.mark.parametrize(
    ("socket_timeout", "connect_timeout", "bound"),
    [
        (TIMEOUT, CONNECT, BOUND),
        (TIMEOUT, None, BOUND),  # the connect is bounded by socket_timeout
        (None, None, 3 * 2 * 1.0),  # and without either, by one second
    ],
)
async def test_a_connect_that_never_completes_is_bounded(
    socket_timeout: float | None, connect_timeout: float | None, bound: float
) -> None:
    async with redis_proxy() as proxy:
        pipe = proxied(proxy, socket_timeout=socket_timeout, socket_connect_timeout=connect_timeout)
        proxy.mode = "blackhole"
        sends = [pipe.send("ECHO", b"s%d" % i) for i in range(5)]
        results = await settled(sends, bound)
        each_is(results, RedisConnectionError)
        assert all(isinstance(r, Exception) for r in results)
        proxy.heal()
        await works(pipe)
        pipe.close()


@pytest.mark.parametrize("handshake", [False, True])
async def test_connections_closed_as_they_are_accepted_fail_commands_not_hang(
    handshake: bool,
) -> None:
    # Closed at once, the connection is often lost before the pipe has taken it up.
    async with redis_proxy() as proxy:
        pipe = proxied(proxy, handshake=handshake)
        proxy.mode = "drop"
        for _ in range(3):
            each_is(await stream(pipe), RedisConnectionError)
        assert proxy.accepted > 1
        proxy.heal()
        await works(pipe)
        pipe.close()


@pytest.mark.parametrize("handshake", [False, True])
async def test_a_redis_at_maxclients_fails_commands_not_hang(handshake: bool) -> None:
    # What Redis does at maxclients: accept, send the error unasked, close.
    async with redis_proxy() as proxy:
        pipe = proxied(proxy, handshake=handshake)
        await works(pipe)
        proxy.mode = "reject"
        proxy.cut()
        for _ in range(3):
            each_is(await stream(pipe), RedisConnectionError, ResponseError)
        proxy.heal()
        await works(pipe)
        pipe.close()


async def test_a_reply_sent_unasked_on_a_new_connection_never_answers_a_command() -> None:
    # The first connection greets with an error and stays open: that reply must not be
    # taken for the answer to a command (and every later reply for the one before it).
    # It comes before the pipe has taken the connection up, or in its handshake: with no
    # handshake and a command already written, nothing tells it from the command's reply.
    def greeting(connection: int) -> bytes:
        return MAXCLIENTS_REPLY if connection == 1 else b""

    async with FakeRedis(echo, greeting) as server:
        pipe = pipe_for(server, db=1, socket_timeout=TIMEOUT, socket_connect_timeout=CONNECT)
        each_is(await stream(pipe, every=0), RedisConnectionError, ResponseError)
        await works(pipe)
        pipe.close()


async def test_a_reply_sent_unasked_on_an_open_connection_drops_it() -> None:
    def handler(command: list[bytes], connection: int) -> bytes:
        extra = b"-ERR unasked\r\n" if command[-1] == b"twice" else b""
        return echo(command, connection) + extra

    async with FakeRedis(handler) as server:
        pipe = pipe_for(server, socket_timeout=TIMEOUT, socket_connect_timeout=CONNECT)
        assert await pipe.send("ECHO", "twice") == b"twice"
        each_is(await stream(pipe), RedisConnectionError)
        await works(pipe)
        assert server.connections == 2
        pipe.close()


@pytest.mark.parametrize("handshake", [False, True])
async def test_a_redis_that_stops_answering_times_out_every_command(handshake: bool) -> None:
    async with redis_proxy() as proxy:
        pipe = proxied(proxy, handshake=handshake)
        await works(pipe)
        proxy.mode = "stall"  # the open connection too
        results = await stream(pipe)
        # In flight when it stalled: a timeout; stalled in the handshake of a new
        # connection: the connection could not be made.
        each_is(results, RedisTimeoutError, RedisConnectionError)
        assert all(isinstance(r, Exception) for r in results)
        if not handshake:  # else the last try is a new connection's, which fails
            assert any(isinstance(r, RedisTimeoutError) for r in results)
        proxy.heal()
        await works(pipe)
        pipe.close()


async def test_a_handshake_never_answered_is_bounded_without_socket_timeout() -> None:
    async with redis_proxy() as proxy:
        proxy.mode = "stall"
        pipe = proxied(proxy, handshake=True, socket_timeout=None)
        each_is(await stream(pipe), RedisConnectionError)
        proxy.heal()
        await works(pipe)
        pipe.close()


async def test_connections_cut_while_writing_and_with_replies_due() -> None:
    async with redis_proxy() as proxy:
        pipe = proxied(proxy)
        await works(pipe)
        big = b"x" * 300_000  # a write the kernel takes in several parts
        small: list[asyncio.Future[Any]] = []
        large: list[asyncio.Future[Any]] = []
        for i in range(30):
            small.append(pipe.send("ECHO", b"s%d" % i))
            if i % 3 == 0:
                large.append(pipe.send("ECHO", big))
            await asyncio.sleep(0.005)
            if i % 4 == 1:
                proxy.cut()
        each_is(await settled(small), RedisConnectionError, RedisTimeoutError)
        for result in await settled(large):
            assert result == big or isinstance(result, (RedisConnectionError, RedisTimeoutError))
        await works(pipe)
        pipe.close()


async def test_a_command_sent_while_the_connection_closes_goes_out_on_a_new_one() -> None:
    async with redis_proxy() as proxy:
        pipe = proxied(proxy)
        await works(pipe)
        pipe.close()
        assert await asyncio.wait_for(pipe.send("ECHO", "s0"), BOUND) == b"s0"
        proxy.cut()  # the pipe has not seen this connection go yet
        each_is(await stream(pipe, count=3, every=0), RedisConnectionError)
        await works(pipe)
        pipe.close()


class MaxclientsRedis:
    """A redis-server of the test's own allowing one client, which `occupy` takes."""

    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--dir", str(tmp), "--maxclients", "1"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def occupy(self) -> None:
        """Connects the one client Redis allows, once Redis answers."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + 10
        while True:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                assert loop.time() < give_up, "redis-server did not start"
                await asyncio.sleep(0.05)
                continue
            self.client = reader, writer
            assert await self.command(b"PING") == b"+PONG\r\n"
            return

    async def command(self, *args: bytes) -> bytes:
        assert self.client is not None
        reader, writer = self.client
        writer.write(pack(args))
        return await asyncio.wait_for(reader.readline(), 5)

    def stop(self) -> None:
        if self.client is not None:
            self.client[1].close()
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def maxclients_redis(tmp_path: Path) -> Iterator[MaxclientsRedis]:
    if shutil.which("redis-server") is None:
        pytest.skip("needs the redis-server binary")
    redis = MaxclientsRedis(tmp_path)
    yield redis
    redis.stop()


@pytest.mark.parametrize("handshake", [False, True])
async def test_a_real_redis_at_maxclients_fails_commands_then_serves_them(
    maxclients_redis: MaxclientsRedis, handshake: bool
) -> None:
    await maxclients_redis.occupy()
    pipe = RedisPipe(
        host="127.0.0.1",
        port=maxclients_redis.port,
        db=1 if handshake else 0,
        socket_timeout=TIMEOUT,
        socket_connect_timeout=CONNECT,
    )
    for _ in range(3):
        each_is(await stream(pipe), RedisConnectionError, ResponseError)
    # The occupying client raises the limit: no connection has to go away first.
    assert await maxclients_redis.command(b"CONFIG", b"SET", b"maxclients", b"10") == b"+OK\r\n"
    await works(pipe)
    pipe.close()


# The gateway runs on uvloop, whose transports call back in their own order: the same
# faults there.


@pytest.mark.parametrize("mode", ["drop", "reject", "stall"])
def test_faults_on_uvloop(mode: Mode) -> None:
    async def faults() -> None:
        async with redis_proxy() as proxy:
            pipe = proxied(proxy, handshake=True)
            await works(pipe)
            proxy.mode = mode
            proxy.cut()
            for _ in range(2):
                each_is(await stream(pipe), RedisConnectionError, RedisTimeoutError, ResponseError)
            proxy.heal()
            await works(pipe)
            pipe.close()

    uvloop.run(faults())
