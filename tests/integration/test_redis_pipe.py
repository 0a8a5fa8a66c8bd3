"""The check's pipelined Redis connection: replies in order, errors as redis-py raises them,
one retry after a broken connection or a timeout, credentials and database on connect."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.store import redis_pipe
from gateway.store.redis import create_redis
from gateway.store.redis_pipe import RedisPipe, _Incomplete, pack, parse
from tests.conftest import REDIS_URL

CLOSE = object()  # a handler's answer: drop the connection instead of replying

Handler = Callable[[list[bytes], int], Any]  # (command, connection number) -> reply


class FakeRedis:
    """Speaks just enough RESP: each command goes to `handler`, which returns the raw
    reply, None (no reply) or CLOSE."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
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
