"""Route declarations carrying roles and schemas, so auth, validation and the OpenAPI
document all come from one place."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Annotated, Any, TypeVar

import msgspec
import msgspec.inspect as mi
from aiohttp import web
from msgspec import Meta

from gateway.core.errors import InvalidRequest, NotFound, RequestTimeout, TooLarge
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
    # The Struct the query converts to (`convert_query`): the document types each parameter
    # from it.
    query_type: Any = None
    # Rules on the body beyond its Struct's fields (a field a purpose requires), as JSON
    # Schema: the document states them.
    body_rules: tuple[dict[str, Any], ...] = ()
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
        query_type: Any = None,
        body_rules: tuple[dict[str, Any], ...] = (),
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
                    query_type=query_type,
                    body_rules=body_rules,
                    body_content_types=body_content_types,
                    response_content_type=response_content_type,
                    public=public,
                    errors=errors,
                    also=also,
                )
            )
            return handler

        return register


def required_when(field: str, value: str, names: tuple[str, ...]) -> dict[str, Any]:
    """A body rule: when `field` is `value`, each of `names` is required and not null."""
    return {
        "if": {"properties": {field: {"const": value}}, "required": [field]},
        "then": {
            "required": list(names),
            "properties": {name: {"not": {"type": "null"}} for name in names},
        },
    }


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


def _text_path(value: object, path: str, bad: Callable[[str], bool]) -> str | None:
    """Where in a decoded JSON value the first key or string that is `bad` is, as `a.b[2]`."""
    if isinstance(value, str):
        return path if bad(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            found = _text_path(key, path, bad) or _text_path(item, inner, bad)
            if found:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            found = _text_path(item, f"{path}[{i}]", bad)
            if found:
                return found
    return None


@cache
def _time_fields(kind: type) -> tuple[tuple[str, str], ...]:
    """The (attribute, name) of each field of a Struct type that can hold a date or time,
    however deep: the only fields `check_years` looks at."""
    info = mi.type_info(kind)
    if not isinstance(info, mi.StructType):
        return ()
    return tuple((f.name, f.encode_name) for f in info.fields if _holds_time(f.type, set()))


def _holds_time(t: mi.Type, seen: set[int]) -> bool:
    if isinstance(t, mi.DateTimeType | mi.DateType):
        return True
    if id(t) in seen:
        return False
    seen.add(id(t))
    if isinstance(t, mi.UnionType):
        return any(_holds_time(u, seen) for u in t.types)
    if isinstance(t, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        return _holds_time(t.item_type, seen)
    if isinstance(t, mi.TupleType):
        return any(_holds_time(u, seen) for u in t.item_types)
    if isinstance(t, mi.DictType):
        return _holds_time(t.value_type, seen)
    if isinstance(t, mi.StructType):
        return any(_holds_time(f.type, seen) for f in t.fields)
    return False


def check_years(value: object, path: str = "") -> None:
    """Refuse a date or time outside FIRST_YEAR-LAST_YEAR anywhere in a decoded value,
    naming its field."""
    if isinstance(value, date):  # a datetime is a date too
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise InvalidRequest(
                f"{path or 'value'}: out of range (years {FIRST_YEAR}-{LAST_YEAR})"
            )
    elif isinstance(value, msgspec.Struct):
        for attr, name in _time_fields(type(value)):
            check_years(getattr(value, attr), f"{path}.{name}" if path else name)
    elif isinstance(value, list | tuple | set | frozenset):
        for i, item in enumerate(value):
            check_years(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            check_years(item, f"{path}.{key}" if path else str(key))


def path_bigint(request: web.Request, name: str, what: str) -> int:
    """A bigint id from the path: one no row can have (not 1 to 2^63-1 in ASCII digits) is
    a 404, as an id that is not there."""
    raw = request.match_info[name]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 1 <= int(raw) < 2**63):
        raise NotFound(f"no {what} {raw[:32]}")
    return int(raw)


# JSON nested deeper than this is refused before it is decoded: no body of the API nests
# more than a few levels, and a decoder's recursion must not be the client's to choose.
MAX_JSON_DEPTH = 32
# Dates and times are taken within these years only (as the built-in calendar): outside
# them, arithmetic on a time may overflow, and PostgreSQL and Python disagree on the range.
FIRST_YEAR, LAST_YEAR = 1970, 2199

_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_BOM = b"\xef\xbb\xbf"


def _too_deep(data: bytes) -> bool:
    """Whether JSON text nests arrays and objects deeper than MAX_JSON_DEPTH (brackets
    inside strings do not count)."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for token in _JSON_TOKENS.finditer(data):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif char in (b"]", b"}"):
            depth -= 1
    return False


def _not_utf8(data: bytes) -> InvalidRequest:
    """The error for a body that is not UTF-8, naming the field whose text holds the bytes
    when the rest of the body is JSON."""
    try:
        data.decode("utf-8")
        offset = 0
    except UnicodeDecodeError as e:
        offset = e.start
    where = "body"
    if b"\xef\xbf\xbd" not in data:  # no U+FFFD of its own: the replaced bytes are found
        try:
            value = msgspec.json.decode(data.decode("utf-8", errors="replace"))
            where = _text_path(value, "", lambda text: "\ufffd" in text) or "body"
        except msgspec.DecodeError:
            pass
    return InvalidRequest(f"{where}: not UTF-8 (byte 0x{data[offset]:02x} at offset {offset})")


def _check_json_text(data: bytes) -> None:
    if not data.strip():
        raise InvalidRequest("request body is empty; a JSON object is expected")
    if data.startswith(_BOM):
        raise InvalidRequest("body: starts with a byte order mark (BOM); send JSON without one")
    if not data.isascii():
        try:
            data.decode("utf-8")  # also where the decoder would skip it (a field not taken)
        except UnicodeDecodeError:
            raise _not_utf8(data) from None
    if _too_deep(data):
        raise InvalidRequest(f"body: JSON nested deeper than {MAX_JSON_DEPTH} levels")


def decode(data: bytes, kind: type[T]) -> T:
    """A JSON body as `kind`, or InvalidRequest naming what is wrong: bytes that are not
    UTF-8, a BOM, nesting deeper than MAX_JSON_DEPTH, a NUL character, a date or time
    outside FIRST_YEAR-LAST_YEAR, or a value `kind` does not take. Of a key given twice
    the last value counts."""
    _check_json_text(data)
    try:
        if b"\\u0000" in data:
            # PostgreSQL cannot store a NUL in text: refuse it here for every route.
            where = _text_path(msgspec.json.decode(data), "", lambda text: "\x00" in text)
            raise InvalidRequest(f"{where or 'body'}: must not contain NUL characters")
        value = msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as e:
        raise InvalidRequest(_field_message(e)) from e
    except msgspec.DecodeError as e:
        raise InvalidRequest(f"malformed JSON: {e}") from e
    check_years(value)
    return value


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
    for name, text in query.items():
        if "\x00" in name or "\x00" in text:
            # PostgreSQL cannot store or compare a NUL in text.
            raise InvalidRequest(f"query {name!r}: must not contain NUL characters")
    try:
        value = msgspec.convert(query, kind, strict=False)
    except msgspec.ValidationError as e:
        raise InvalidRequest("query " + _field_message(e)) from e
    try:
        check_years(value)
    except InvalidRequest as e:
        raise InvalidRequest("query " + e.message) from e
    return value


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
