"""Hand-made hostile requests, sent byte for byte over a socket to a real `gateway serve`
process: each is answered with the JSON error envelope and a 4xx (a body too slow, 408),
never a 500, never plain text, and never with a word of the Authorization header."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.support.databases import REDIS_URL
from tests.support.gateway_process import GatewayProcess

# The secret part of a token that no answer may repeat; the valid tokens end the same way.
SECRET = "hostile-secret-9f3b27c1"

PRECHECK = {
    "callee": "13812345678",
    "caller_id": "01087654321",
    "agent_id": "agent-1",
    "campaign_id": "campaign-1",
    "script_id": "script-1",
    "script_version": 1,
    "purpose": "marketing",
    "list_id": "list-1",
}


def _json(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


def _post(path: str, body: bytes, role: str = "dialer", head: bytes = b"") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {{{role}}}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
        + head
        + b"Connection: close\r\n\r\n"
        + body
    )


def _patch(path: str, body: bytes, role: str = "supervisor") -> bytes:
    return _post(path, body, role).replace(b"POST ", b"PATCH ", 1)


def _get(target: bytes, role: str = "supervisor", head: bytes = b"") -> bytes:
    return (
        b"GET " + target + b" HTTP/1.1\r\nHost: gateway\r\n"
        b"Authorization: Bearer {" + role.encode() + b"}\r\n" + head + b"Connection: close\r\n\r\n"
    )


@dataclass(frozen=True)
class Hostile:
    name: str
    request: bytes
    status: int
    # Words the error's message must hold (the field it names).
    names: str = ""


DEEP = b'{"callee": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
SIMULATE = {**PRECHECK, "at": "0001-01-01T00:00:00+14:00"}
BAD_UTF8 = _json(PRECHECK).replace(b"agent-1", b"agent-\xff\xfe")

HOSTILE = [
    Hostile("invalid UTF-8 in a string", _post("/v1/precheck", BAD_UTF8), 400, "agent_id"),
    Hostile("invalid UTF-8 outside strings", _post("/v1/precheck", b"{\xff}"), 400),
    Hostile("a lone UTF-16 surrogate", _post("/v1/precheck", b'{"callee": "\\ud800"}'), 400),
    Hostile("a BOM before JSON", _post("/v1/precheck", b"\xef\xbb\xbf" + _json(PRECHECK)), 400),
    Hostile("JSON nested 50,000 deep", _post("/v1/precheck", DEEP), 400, "nested"),
    Hostile("JSON nested 33 deep", _post("/v1/precheck", b"[" * 33 + b"]" * 33), 400, "nested"),
    Hostile(
        "a key given twice: the last counts",
        _post("/v1/precheck", _json(PRECHECK)[:-1] + b', "purpose": "spam"}'),
        400,
        "purpose",
    ),
    Hostile(
        "a year 1 in simulate's at",
        _post("/v1/precheck/simulate", _json(SIMULATE), "supervisor"),
        400,
        "at",
    ),
    Hostile(
        "a year 9999 in simulate's at",
        _post(
            "/v1/precheck/simulate",
            _json({**SIMULATE, "at": "9999-12-31T23:59:59-14:00"}),
            "supervisor",
        ),
        400,
        "at",
    ),
    Hostile("a year 1 in the daily report", _get(b"/v1/reports/daily?date=0001-01-01"), 400),
    Hostile("a time of -1 in a query", _get(b"/v1/calls?from=-1"), 400, "from"),
    Hostile(
        "a year 9999 in a query",
        _get(b"/v1/calls?to=9999-12-31T23:59:59-14:00"),
        400,
        "to",
    ),
    Hostile(
        "a year 1 closing a dispute",
        _patch("/v1/disputes/1", _json({"closed_at": "0001-01-01T00:00:00Z", "note": "x"})),
        400,
        "closed_at",
    ),
    Hostile(
        "an exception id past bigint",
        _patch("/v1/exceptions/99999999999999999999999", _json({"state": "open", "note": "x"})),
        404,
    ),
    Hostile(
        "an exception id of Arabic-Indic digits",
        _patch("/v1/exceptions/%D9%A3", _json({"state": "open", "note": "x"})),
        404,
    ),
    Hostile("an exception id of -1", _patch("/v1/exceptions/-1", b"{}"), 404),
    Hostile("an exception id of a bad escape", _patch("/v1/exceptions/%ff", b"{}"), 404),
    Hostile("a NUL in a policy number", _patch("/v1/policies/a%00b", b"{}"), 404),
    Hostile("a NUL in a registry id", _patch("/v1/agents/a%00b", b"{}"), 400),
    Hostile(
        "a dispute id past bigint",
        _patch("/v1/disputes/9223372036854775808", _json({"closed_at": "x", "note": "x"})),
        404,
    ),
    Hostile(
        "a header of 100,000 bytes",
        _get(b"/v1/calls", head=b"X-Padding: " + b"a" * 100_000 + b"\r\n"),
        400,
    ),
    Hostile(
        "an Authorization header of 100,000 bytes",
        b"GET /v1/calls HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer "
        + (SECRET * 5000).encode()
        + b"\r\nConnection: close\r\n\r\n",
        400,
    ),
    Hostile(
        "ten thousand headers",
        _get(b"/v1/calls", head=b"".join(b"X-H%d: 1\r\n" % i for i in range(10_000))),
        400,
    ),
    Hostile(
        "a header with a control character",
        _get(b"/v1/calls", head=b"X-Evil: a\x01" + SECRET.encode() + b"\r\n"),
        400,
    ),
    Hostile(
        "a header line with no colon",
        _get(b"/v1/calls", head=SECRET.encode() + b"\r\n"),
        400,
    ),
    Hostile(
        "a request line of garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400
    ),
    # Read as HTTP/0.9, which has no headers: so no token.
    Hostile("a request line with no version", b"GET /v1/calls\r\nHost: gateway\r\n\r\n", 401),
    Hostile("a bad method", b"G@T /v1/calls HTTP/1.1\r\nHost: gateway\r\n\r\n", 400),
    Hostile("HTTP/9.9", b"GET /v1/calls HTTP/9.9\r\nHost: gateway\r\n\r\n", 400),
    Hostile("a request line of 100,000 bytes", _get(b"/v1/calls?x=" + b"a" * 100_000), 400),
    Hostile(
        "a Content-Length that is not a number",
        _post("/v1/precheck", b"{}").replace(b"Content-Length: 2", b"Content-Length: abc"),
        400,
    ),
    Hostile(
        "a negative Content-Length",
        _post("/v1/precheck", b"{}").replace(b"Content-Length: 2", b"Content-Length: -2"),
        400,
    ),
    Hostile(
        "two Content-Lengths that differ",
        _post("/v1/precheck", b"{}", head=b"Content-Length: 3\r\n"),
        400,
    ),
    Hostile(
        "Content-Length with chunked Transfer-Encoding",
        _post("/v1/precheck", b"{}", head=b"Transfer-Encoding: chunked\r\n"),
        400,
    ),
    Hostile("a raw UTF-8 query", _get("/v1/calls?agent_id=张三".encode()), 400),
    Hostile("a raw Latin-1 query", _get(b"/v1/calls?agent_id=\xe9t\xe9"), 400),
    Hostile("a query of invalid percent-escapes", _get(b"/v1/calls?from=%ff%fe"), 400, "from"),
    Hostile("a raw UTF-8 path", _get("/v1/calls/张三".encode()), 400),
    Hostile("a NUL in a query", _get(b"/v1/calls?agent_id=%00"), 400, "agent_id"),
    Hostile(
        "a query of 5,000 parameters",
        _get(b"/v1/calls?" + b"&".join(b"p%d=1" % i for i in range(5000))),
        400,
    ),
]


@pytest.fixture(scope="module")
async def gateway(
    database_url: str,
    redis_prefix: str,
    tokens: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[GatewayProcess]:
    env = {
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_REDIS_URL": REDIS_URL,
        "GATEWAY_REDIS_PREFIX": redis_prefix + "hostile:",
        "GATEWAY_SCHEDULER": "false",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_BODY_TIMEOUT_SECONDS": "0.5",
    }
    log = tmp_path_factory.mktemp("hostile") / "serve.log"
    async with GatewayProcess(env, log) as process:
        yield process


async def _exchange(port: int, request: bytes, pause_after: int | None = None) -> bytes:
    """Send `request` (all of it, or its first `pause_after` bytes and then nothing more)
    and read until the server closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        try:
            writer.write(request if pause_after is None else request[:pause_after])
            await writer.drain()
        except ConnectionError:
            pass  # the server answered and closed before taking it all: read what it said
        data = b""
        async with asyncio.timeout(30):
            while True:
                try:
                    chunk = await reader.read(65536)
                except ConnectionError:
                    break
                if not chunk:
                    break
                data += chunk
        return data
    finally:
        writer.close()


def _envelope(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    assert headers.get("content-type", "").startswith("application/json"), answer[:300]
    error = json.loads(body)["error"]
    assert set(error) == {"code", "message", "message_zh"}, error
    return status, error


def _with_tokens(request: bytes, tokens: dict[str, str]) -> bytes:
    for role, token in tokens.items():
        request = request.replace(b"{" + role.encode() + b"}", token.encode())
    return request


@pytest.mark.parametrize("case", HOSTILE, ids=[case.name for case in HOSTILE])
async def test_a_hostile_request_gets_a_4xx_json_envelope(
    gateway: GatewayProcess, tokens: dict[str, str], case: Hostile
) -> None:
    answer = await _exchange(gateway.port, _with_tokens(case.request, tokens))
    status, error = _envelope(answer)
    assert status == case.status, (status, error)
    assert case.names in error["message"], error
    assert error["message_zh"] and error["code"] != "internal"
    for token in tokens.values():
        assert token.encode() not in answer
    assert SECRET.encode() not in answer
    assert b"Traceback" not in answer


async def test_a_body_that_stops_coming_is_a_408_envelope(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    request = _with_tokens(_post("/v1/precheck", _json(PRECHECK)), tokens)
    answer = await _exchange(gateway.port, request, pause_after=len(request) - 20)
    status, error = _envelope(answer)
    assert (status, error["code"]) == (408, "request_timeout")


async def test_the_gateway_still_answers_after_the_hostile_requests(
    gateway: GatewayProcess, tokens: dict[str, str]
) -> None:
    for case in HOSTILE:
        await _exchange(gateway.port, _with_tokens(case.request, tokens))
    answer = await _exchange(
        gateway.port, b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert "unhandled error" not in gateway.log()
