"""Reading a large text body a block of lines at a time without holding it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.errors import InvalidRequest, TooLarge


async def body_blocks(request: web.Request, limit: int) -> AsyncIterator[tuple[int, list[str]]]:
    """Yield the body's lines a block at a time as (1-based number of the block's first
    line, lines), blank lines included, decoding UTF-8 (a leading byte-order mark is
    dropped)."""
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
        lines = _decode_block(block, number)
        yield number + 1, lines
        number += len(lines)
    if pending:
        yield number + 1, [_decode(pending, number + 1)]


async def body_lines(request: web.Request, limit: int) -> AsyncIterator[tuple[int, str]]:
    """Yield (1-based line number, line) pairs, as `body_blocks` reads them."""
    async for first, lines in body_blocks(request, limit):
        for number, line in enumerate(lines, first):
            yield number, line


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
