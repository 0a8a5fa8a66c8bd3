"""The fault-test proxy of tests/support/tcp_proxy.py does what each of its modes says,
in front of the real Redis."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.databases import REDIS_URL
from tests.support.tcp_proxy import MAXCLIENTS_REPLY, TcpProxy

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def connect(proxy: TcpProxy) -> Stream:
    return await asyncio.wait_for(asyncio.open_connection(proxy.host, proxy.port), 2)


async def ping(stream: Stream) -> bytes:
    reader, writer = stream
    writer.write(b"PING\r\n")
    return await asyncio.wait_for(reader.readline(), 2)


async def closed(stream: Stream) -> bool:
    """The proxy closed this connection (with or without a reset)."""
    try:
        return await asyncio.wait_for(stream[0].read(), 2) == b""
    except ConnectionResetError:
        return True


async def silent(stream: Stream) -> bool:
    """A PING on this connection gets no answer (and the connection stays open)."""
    reader, writer = stream
    writer.write(b"PING\r\n")
    try:
        await asyncio.wait_for(reader.read(1), 0.3)
    except TimeoutError:
        return True
    return False


def close(*streams: Stream) -> None:
    for _, writer in streams:
        writer.close()


async def test_forward_cut_and_stop() -> None:
    proxy = await TcpProxy.for_url(REDIS_URL).start()
    assert proxy.url() == f"redis://127.0.0.1:{proxy.port}/0"
    first, second = await connect(proxy), await connect(proxy)
    assert await ping(first) == b"+PONG\r\n"
    assert await ping(second) == b"+PONG\r\n"
    assert proxy.accepted == 2
    proxy.cut()
    assert await closed(first)
    assert await closed(second)
    third = await connect(proxy)
    assert await ping(third) == b"+PONG\r\n"
    await proxy.stop()
    assert await closed(third)
    assert proxy.open_connections == 0
    with pytest.raises(ConnectionRefusedError):
        await connect(proxy)
    close(first, second, third)


async def test_drop_and_reject_close_new_connections_only() -> None:
    async with TcpProxy.for_url(REDIS_URL) as proxy:
        kept = await connect(proxy)
        proxy.mode = "drop"
        dropped = await connect(proxy)
        assert await closed(dropped)
        proxy.mode = "reject"
        rejected = await connect(proxy)
        assert await asyncio.wait_for(rejected[0].read(), 2) == MAXCLIENTS_REPLY
        assert await ping(kept) == b"+PONG\r\n"
        proxy.heal()
        healed = await connect(proxy)
        assert await ping(healed) == b"+PONG\r\n"
        close(kept, dropped, rejected, healed)


async def test_stall_silences_open_and_new_connections_until_healed() -> None:
    async with TcpProxy.for_url(REDIS_URL) as proxy:
        kept = await connect(proxy)
        assert await ping(kept) == b"+PONG\r\n"
        proxy.mode = "stall"
        new = await connect(proxy)
        assert await silent(kept)
        assert await silent(new)
        proxy.heal()  # the stalled connections lost bytes: they are closed
        assert await closed(kept)
        assert await closed(new)
        healed = await connect(proxy)
        assert await ping(healed) == b"+PONG\r\n"
        close(kept, new, healed)


async def test_refuse_and_blackhole_keep_the_port() -> None:
    async with TcpProxy.for_url(REDIS_URL) as proxy:
        port = proxy.port
        proxy.mode = "refuse"
        with pytest.raises(ConnectionRefusedError):
            await connect(proxy)
        proxy.mode = "blackhole"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(asyncio.open_connection(proxy.host, proxy.port), 0.3)
        proxy.heal()
        assert proxy.port == port
        healed = await connect(proxy)
        assert await ping(healed) == b"+PONG\r\n"
        proxy.mode = "refuse"  # straight back, before the healed server has started
        proxy.mode = "forward"
        again = await connect(proxy)
        assert await ping(again) == b"+PONG\r\n"
        close(healed, again)
