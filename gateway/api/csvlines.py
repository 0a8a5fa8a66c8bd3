"""Reading a large text body line by line without holding it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.errors import InvalidRequest, TooLarge


async def body_lines(request: web.Request, limit: int) -> AsyncIterator[tuple[int, str]]:
    """Yield (1-based line number, line) pairs, blank lines included, decoding UTF-8
    (a leading byte-order mark is dropped)."""
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"request body is larger than {limit} bytes")
    size = 0
    number = 0
    pending = b""
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        block, pending = pending[:cut], pending[cut + 1 :]
        for line in _decode_block(block, number):
            number += 1
            yield number, line
    if pending:
        number += 1
        yield number, _decode(pending, number)


def _decode_block(block: bytes, before: int) -> list[str]:
    """The lines of a block of whole lines that `before` lines precede: decoded at once,
    or line by line to name the line that is not text."""
    if before == 0 and block.startswith(b"\xef\xbb\xbf"):
        block = block[3:]
    if b"\x00" not in block:
        try:
            text = block.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            lines = text.split("\n")
            return [line.rstrip("\r") for line in lines] if "\r" in text else lines
    return [_decode(raw, before + i) for i, raw in enumerate(block.split(b"\n"), 1)]


def _decode(raw: bytes, number: int) -> str:
    if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if b"\x00" in raw:
        raise InvalidRequest(f"line {number}: contains a NUL character")
    try:
        return raw.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError as e:
        raise InvalidRequest(f"line {number}: not UTF-8 text") from e
