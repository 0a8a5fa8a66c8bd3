"""Reading a large text body a block of lines at a time without holding it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.api.routing import upload_chunks
from gateway.core.errors import InvalidRequest, TooLarge


async def line_blocks(
    chunks: AsyncIterator[bytes], decode: Callable[[bytes, int], list[str]]
) -> AsyncIterator[tuple[int, list[str]]]:
    """Cut a byte stream into blocks of whole lines as (1-based number of the block's
    first line, lines); `decode(block, lines before it)` makes a block's lines."""
    number = 0
    pending = b""
    async for chunk in chunks:
        pending += chunk
        cut = pending.rfind(b"\n")
        if cut < 0:
            continue
        lines = decode(pending[:cut], number)
        pending = pending[cut + 1 :]
        yield number + 1, lines
        number += len(lines)
    if pending:
        yield number + 1, decode(pending, number)


def split_lines(text: str) -> list[str]:
    """A block's lines, without the carriage return of CRLF line ends."""
    lines = text.split("\n")
    return [line.rstrip("\r") for line in lines] if "\r" in text else lines


def body_blocks(request: web.Request, limit: int) -> AsyncIterator[tuple[int, list[str]]]:
    """The body's lines a block at a time (see `line_blocks`), blank lines included,
    decoding UTF-8 (a leading byte-order mark is dropped)."""

    async def chunks() -> AsyncIterator[bytes]:
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        size = 0
        async for chunk in upload_chunks(request, 256 * 1024):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
            yield chunk

    return line_blocks(chunks(), _decode_block)


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
            return split_lines(text)
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
