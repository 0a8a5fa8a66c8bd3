"""Slow clients cannot hold the server: headers, a JSON body and an idle keep-alive
connection each have a time limit; an upload may take longer but must keep sending.

The gateway is served as `gateway serve` serves it, on a real port, and spoken to over
raw TCP connections. The limits are short; each check allows generous slack for a busy
machine ("closed within the limit plus SLACK"), and checks "not before the limit" where
that is the point."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import msgspec
import pytest

from gateway.core.settings import Settings
from tests.conftest import Serve
from tests.integration.tenant import OPEN_POLICY, Tenant
from tests.support.audio import wav
from tests.support.clock import Clock

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


# --- JSON bodies --------------------------------------------------------------------------


async def test_a_json_body_that_stops_midway_is_408_and_the_connection_closed(
    gateway: Address, sockets: list[asyncio.StreamWriter], tokens: dict[str, str]
) -> None:
    body = json.dumps({"callee": "13812345678", "purpose": "service", "caller_id": "4008001234"})
    reader, writer = await connect(gateway, sockets)
    writer.write(
        head(
            "POST",
            "/v1/precheck",
            tokens["dialer"],
            Content_Type="application/json",
            Content_Length=str(len(body)),
        )
        + body[:20].encode()
    )
    started = now()
    data, closed = await until_closed(reader, BODY + SLACK)
    assert closed - started >= BODY * EARLY
    status, answered = answer(data)
    assert status == 408
    assert answered["error"]["code"] == "request_timeout"
    assert f"{BODY:g} s" in answered["error"]["message"]


async def test_a_json_body_trickled_past_the_body_limit_is_408(
    gateway: Address, sockets: list[asyncio.StreamWriter], tokens: dict[str, str]
) -> None:
    """The body limit is for the whole body: sending steadily does not extend it."""
    body = json.dumps({"numbers": [f"1380000{i:04d}" for i in range(10)]}).encode()
    reader, writer = await connect(gateway, sockets)
    writer.write(
        head(
            "PUT",
            "/v1/agents/nobody/customers",
            tokens["supervisor"],
            Content_Type="application/json",
            Content_Length=str(len(body)),
        )
    )
    started = now()
    task = asyncio.create_task(trickle(writer, body, every=BODY / 10))
    data, closed = await until_closed(reader, BODY + SLACK)
    task.cancel()
    assert closed - started >= BODY * EARLY
    assert answer(data)[0] == 408


# --- uploads ------------------------------------------------------------------------------


def cdr_lines(count: int) -> list[bytes]:
    return [
        f"4008001234,1380000{i:04d},2026-11-23T10:00:{i % 60:02d}+08:00,,\n".encode()
        for i in range(count)
    ]


async def test_an_upload_that_keeps_sending_may_take_longer_than_the_body_limit(
    gateway: Address, sockets: list[asyncio.StreamWriter], tokens: dict[str, str]
) -> None:
    lines = cdr_lines(12)
    reader, writer = await connect(gateway, sockets)
    writer.write(
        head(
            "POST",
            "/v1/cdrs",
            tokens["dialer"],
            Content_Type="text/csv",
            Content_Length=str(sum(map(len, lines))),
        )
    )
    started = now()
    for line in lines:  # 2.4 body limits in all, with pauses well under the idle limit
        writer.write(line)
        await writer.drain()
        await asyncio.sleep(BODY * 0.2)
    assert now() - started > BODY * 2
    status, raw = await asyncio.wait_for(read_answer(reader), SLACK)
    assert status == 202, raw
    assert json.loads(raw)["accepted"] == len(lines)


async def test_a_chunked_upload_that_keeps_sending_succeeds(
    gateway: Address, sockets: list[asyncio.StreamWriter], tokens: dict[str, str]
) -> None:
    numbers = [f"13{random.randint(5, 9)}{random.randint(0, 99_999_999):08d}" for _ in range(8)]
    reader, writer = await connect(gateway, sockets)
    writer.write(
        head(
            "POST",
            "/v1/dnc/import?source=slow-test",
            tokens["supervisor"],
            Content_Type="text/csv",
            Transfer_Encoding="chunked",
        )
    )
    started = now()
    for number in numbers:
        line = f"{number},slow\n".encode()
        writer.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        await writer.drain()
        await asyncio.sleep(BODY * 0.3)
    writer.write(b"0\r\n\r\n")
    assert now() - started > BODY * 2
    status, raw = await asyncio.wait_for(read_answer(reader), SLACK)
    assert status == 200, raw
    assert json.loads(raw)["added"] == len(numbers)


async def test_an_upload_that_stops_sending_is_ended_after_the_idle_limit(
    gateway: Address, sockets: list[asyncio.StreamWriter], tokens: dict[str, str]
) -> None:
    lines = [f"1390000{i:04d}\n".encode() for i in range(100)]
    reader, writer = await connect(gateway, sockets)
    writer.write(
        head(
            "POST",
            "/v1/dnc/import?source=stalled-test",
            tokens["supervisor"],
            Content_Type="text/csv",
            Content_Length=str(sum(map(len, lines))),
        )
    )
    for line in lines[:50]:
        writer.write(line)
        await writer.drain()
        await asyncio.sleep(UPLOAD_IDLE * 0.1)
    stopped = now()
    data, closed = await until_closed(reader, UPLOAD_IDLE + SLACK)
    assert closed - stopped >= UPLOAD_IDLE * EARLY
    status, body = answer(data)
    assert status == 408
    assert body["error"]["code"] == "request_timeout"
    assert "upload" in body["error"]["message"]


def files_in(*roots: str) -> list[Path]:
    return [p for root in roots for p in Path(root).rglob("*") if p.is_file()]


async def test_a_stalled_recording_upload_stores_nothing(
    serve_gateway: Serve,
    settings: Settings,
    clock: Clock,
    tokens: dict[str, str],
    db: asyncpg.Connection,
    sockets: list[asyncio.StreamWriter],
) -> None:
    host, port = await serve_gateway(limited(settings), clock)
    async with aiohttp.ClientSession(base_url=f"http://{host}:{port}") as http:
        tenant = Tenant(http, tokens)
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
        await tenant.build(list_size=1)
        call_id = (await tenant.precheck(tenant.marketing()))["call_id"]
        path = f"/v1/calls/{call_id}/recording"

        reader, writer = await connect((host, port), sockets)
        writer.write(
            head("PUT", path, tokens["dialer"], Content_Type="audio/wav", Content_Length="100000")
            + wav(10)[:30_000]  # a WAV's start: the body stalls in the middle of its audio
        )
        stopped = now()
        data, closed = await until_closed(reader, UPLOAD_IDLE + SLACK)
        assert closed - stopped >= UPLOAD_IDLE * EARLY
        assert answer(data)[0] == 408
        # No recording claimed, no file left behind ...
        assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1", call_id) == 0
        assert files_in(settings.recordings_dir, settings.backup_dir) == []
        # ... so the recording can be uploaded again at once.
        audio = wav(1)
        status, stored = await tenant.call(
            "PUT", path, "dialer", data=audio, headers={"Content-Type": "audio/wav"}
        )
        assert status == 201, stored
        assert stored["size"] == len(audio)
