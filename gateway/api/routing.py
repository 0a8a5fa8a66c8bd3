"""Route declarations carrying roles and schemas, so auth, validation and the OpenAPI
document all come from one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, TypeVar

import msgspec
from aiohttp import web
from msgspec import Meta

from gateway.core.errors import InvalidRequest, RequestTimeout, TooLarge
from gateway.core.times import in_beijing
from gateway.services.auth import Principal

# Paging: a page's size, and the id a page continues after (a bigint id: a larger one is a
# 400 naming `cursor`, never an error of the database's).
Limit = Annotated[int, Meta(ge=1, le=500)]
IdCursor = Annotated[int, Meta(ge=1, le=2**63 - 1)]


class Page(msgspec.Struct):
    """A page of a list, and the cursor of the next one (null on the last)."""

    items: list[dict[str, Any]]
    next_cursor: str | None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")

PRINCIPAL = web.RequestKey("principal", Principal)
MAX_JSON_BYTES = web.AppKey("max_json_bytes", int)
# Seconds to receive a body read whole (JSON), and the longest pause in a streamed upload.
BODY_TIMEOUT = web.AppKey("body_timeout", float)
UPLOAD_IDLE = web.AppKey("upload_idle", float)
JSON_ONLY = ("application/json",)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    handler: Handler
    roles: frozenset[str]
    summary: str
    body: Any = None
    response: Any = None
    status: int = 200
    query: tuple[str, ...] = ()
    body_content_types: tuple[str, ...] = ("application/json",)
    response_content_type: str = "application/json"
    public: bool = False
    # The errors the route's own work can answer with, beyond those every route of its
    # kind has (a bad token or role, a store unreachable, a bad, too large or too slow
    # body, a media type it does not take): the OpenAPI document lists them, so that a
    # client knows which codes to handle.
    errors: tuple[type[Exception], ...] = ()
    # Other statuses answered with the success body, and what each means (/readyz's 503
    # carries its report).
    also: tuple[tuple[int, str], ...] = ()

    @property
    def reads_body(self) -> bool:
        """A JSON body decoded whole, or a body of other media read whole or streamed."""
        return self.body is not None or self.takes_other_media

    @property
    def takes_other_media(self) -> bool:
        """It accepts bodies other than JSON, and refuses a type it does not name (415)."""
        return self.body_content_types != JSON_ONLY


@dataclass
class Routes:
    specs: list[RouteSpec] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        roles: tuple[str, ...] = (),
        summary: str = "",
        body: Any = None,
        response: Any = None,
        status: int = 200,
        query: tuple[str, ...] = (),
        body_content_types: tuple[str, ...] = ("application/json",),
        response_content_type: str = "application/json",
        public: bool = False,
        errors: tuple[type[Exception], ...] = (),
        also: tuple[tuple[int, str], ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.specs.append(
                RouteSpec(
                    method=method,
                    path=path,
                    handler=handler,
                    roles=frozenset(roles) | {"admin"},
                    summary=summary,
                    body=body,
                    response=response,
                    status=status,
                    query=query,
                    body_content_types=body_content_types,
                    response_content_type=response_content_type,
                    public=public,
                    errors=errors,
                    also=also,
                )
            )
            return handler

        return register


def principal(request: web.Request) -> Principal:
    p: Principal = request[PRINCIPAL]
    return p


# A body this small with its length declared is read in one call, not chunk by chunk.
_SMALL_BODY = 64 * 1024


async def read_body(request: web.Request, limit: int) -> bytes:
    """The whole body, received within the body timeout (else 408)."""
    if request.content.is_eof():  # it has all come (most bodies): no timer needed
        return await _read_body(request, limit)
    timeout = request.app[BODY_TIMEOUT]
    try:
        async with asyncio.timeout(timeout):
            return await _read_body(request, limit)
    except TimeoutError:
        raise RequestTimeout(f"the request body was not received within {timeout:g} s") from None


async def _read_body(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None:
        if length > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        if 0 < length <= _SMALL_BODY:
            return await request.content.readexactly(length)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def upload_chunks(request: web.Request, size: int) -> AsyncIterator[bytes]:
    """A streamed body's chunks of at most `size` bytes. The upload may take as long as it
    needs, but a pause longer than the upload idle limit ends it (408)."""
    idle = request.app[UPLOAD_IDLE]
    chunks = request.content.iter_chunked(size)
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(f"the upload paused: no data received for {idle:g} s") from None
        yield chunk


def _field_message(err: msgspec.ValidationError) -> str:
    text = str(err)
    # msgspec says "... - at `$.callee`"; name the field the way a client wrote it.
    if " - at `$." in text:
        what, _, where = text.rpartition(" - at `$.")
        return f"{where.rstrip('`')}: {what}"
    return text


def _nul_path(value: object, path: str) -> str | None:
    """Where in a decoded JSON value the first string with a NUL is, as `a.b[2]`."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = _nul_path(key, path) or _nul_path(item, f"{path}.{key}" if path else key)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _nul_path(item, f"{path}[{i}]")
            if found:
                return found
    return None


def decode(data: bytes, kind: type[T]) -> T:
    if not data.strip():
        raise InvalidRequest("request body is empty; a JSON object is expected")
    if b"\\u0000" in data:
        # PostgreSQL cannot store a NUL in text: refuse it here for every route.
        try:
            where = _nul_path(msgspec.json.decode(data), "") or "body"
        except msgspec.DecodeError as e:
            raise InvalidRequest(f"malformed JSON: {e}") from e
        raise InvalidRequest(f"{where}: must not contain NUL characters")
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as e:
        raise InvalidRequest(_field_message(e)) from e
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"malformed JSON: {e}") from e


async def read_json(request: web.Request, kind: type[T]) -> T:
    ctype = request.content_type
    if request.body_exists and ctype not in ("application/json", "application/octet-stream", ""):
        if not ctype.endswith("+json"):
            raise InvalidRequest(f"content type {ctype} is not accepted; send application/json")
    data = await read_body(request, request.app[MAX_JSON_BYTES])
    return decode(data, kind)


# Query parameters holding times: a "+" offset that reached us unencoded reads as a space.
_TIME_PARAMS = frozenset({"from", "to", "at"})


def convert_query(request: web.Request, kind: type[T]) -> T:
    query = {k: v.replace(" ", "+") if k in _TIME_PARAMS else v for k, v in request.query.items()}
    try:
        return msgspec.convert(query, kind, strict=False)
    except msgspec.ValidationError as e:
        raise InvalidRequest("query " + _field_message(e)) from e


_encoder = msgspec.json.Encoder()


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=_encoder.encode(in_beijing(body)),
        status=status,
        content_type="application/json",
        headers=headers,
    )
