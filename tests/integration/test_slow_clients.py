"""Slow clients cannot hold the server: a request's headers and an idle keep-alive
connection each have a time limit.

The gateway is served as `gateway serve` serves it, on a real port, and spoken to over
raw TCP connections. The limits are short; each check allows generous slack for a busy
machine ("closed within the limit plus SLACK"), and checks "not before the limit" where
that is the point."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from gateway.settings import Settings
from tests.conftest import Clock, Serve

HEADER = 1.0
BODY = 1.0
KEEPALIVE = 2.0
UPLOAD_IDLE = 1.0
SLACK = 5.0
# A timer may fire a hair early against the test's clock reading.
EARLY = 0.9

Address = tuple[str, int]


def limited(settings: Settings, **changes: float) -> Settings:
    limits = {
        "header_timeout_seconds": HEADER,
        "body_timeout_seconds": BODY,
        "keepalive_timeout_seconds": KEEPALIVE,
        "upload_idle_seconds": UPLOAD_IDLE,
        **changes,
    }
    return msgspec.structs.replace(settings, **limits)


@pytest.fixture
async def gateway(serve_gateway: Serve, settings: Settings, clock: Clock) -> Address:
    return await serve_gateway(limited(settings), clock)


def now() -> float:
    return asyncio.get_running_loop().time()


async def until_closed(reader: asyncio.StreamReader, within: float) -> tuple[bytes, float]:
    """All the server sends until it closes the connection, and when it closed; fails if
    the connection is still open after `within` seconds."""
    data = b""
    try:
        async with asyncio.timeout(within):
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionResetError:
                    break
                if not chunk:
                    break
                data += chunk
    except TimeoutError:
        raise AssertionError(f"the connection is still open after {within} s") from None
    return data, now()


def answer(data: bytes) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of the one HTTP answer in `data`."""
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)


async def read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One answer with a Content-Length, read off a connection that stays open."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return int(head.split(b" ", 2)[1]), await reader.readexactly(length)


async def trickle(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    """Send `data` a byte at a time, until sent or the server hangs up."""
    try:
        for i in range(len(data)):
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(every)
    except ConnectionError:
        pass


def head(method: str, path: str, token: str | None = None, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: gateway"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def healthz(addr: Address) -> int:
    reader, writer = await asyncio.open_connection(*addr)
    try:
        writer.write(head("GET", "/healthz"))
        status, _ = await read_answer(reader)
        return status
    finally:
        writer.close()


@pytest.fixture
async def sockets() -> AsyncIterator[list[asyncio.StreamWriter]]:
    opened: list[asyncio.StreamWriter] = []
    yield opened
    for writer in opened:
        writer.close()


async def connect(
    addr: Address, opened: list[asyncio.StreamWriter]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection(*addr)
    opened.append(writer)
    return reader, writer


# --- headers ------------------------------------------------------------------------------


async def test_clients_trickling_headers_are_cut_off_while_others_are_served(
    gateway: Address, sockets: list[asyncio.StreamWriter]
) -> None:
    request = head("GET", "/healthz", X_Padding="a" * 200)
    slow = []
    started = now()
    for _ in range(10):
        reader, writer = await connect(gateway, sockets)
        slow.append((reader, asyncio.create_task(trickle(writer, request, every=0.05))))
    # Meanwhile another client is answered at once.
    assert await healthz(gateway) == 200
    for reader, task in slow:
        data, closed = await until_closed(reader, HEADER + SLACK)
        assert closed - started >= HEADER * EARLY
        status, body = answer(data)
        assert status == 408
        assert body["error"]["code"] == "request_timeout"
        assert "headers" in body["error"]["message"]
        task.cancel()
    assert await healthz(gateway) == 200


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_limit(
    gateway: Address, sockets: list[asyncio.StreamWriter]
) -> None:
    started = now()
    reader, _ = await connect(gateway, sockets)
    data, closed = await until_closed(reader, HEADER + SLACK)
    assert closed - started >= HEADER * EARLY
    assert data == b""  # nothing asked, nothing answered


async def test_the_header_limit_runs_from_a_later_requests_first_byte(
    serve_gateway: Serve, settings: Settings, sockets: list[asyncio.StreamWriter]
) -> None:
    """On a kept-alive connection, the wait between requests is the keep-alive limit's
    business; the next request's headers then have the header limit."""
    addr = await serve_gateway(limited(settings, keepalive_timeout_seconds=30))
    reader, writer = await connect(addr, sockets)
    writer.write(head("GET", "/healthz"))
    assert (await read_answer(reader))[0] == 200
    await asyncio.sleep(HEADER * 1.5)  # idle longer than the header limit: still open
    started = now()
    task = asyncio.create_task(trickle(writer, head("GET", "/healthz"), every=0.1))
    data, closed = await until_closed(reader, HEADER + SLACK)
    task.cancel()
    assert closed - started >= HEADER * EARLY
    assert answer(data)[0] == 408


async def test_an_idle_keepalive_connection_is_closed_after_the_keepalive_limit(
    gateway: Address, sockets: list[asyncio.StreamWriter]
) -> None:
    reader, writer = await connect(gateway, sockets)
    writer.write(head("GET", "/healthz"))
    assert (await read_answer(reader))[0] == 200
    answered = now()
    data, closed = await until_closed(reader, KEEPALIVE + SLACK)
    # Idle for longer than the header limit was allowed: the keep-alive limit applies.
    assert closed - answered >= KEEPALIVE * EARLY
    assert data == b""
