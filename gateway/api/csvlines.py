"""Reading a large text body a block of lines at a time without holding it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.api.routing import upload_chunks
from gateway.core.errors import InvalidRequest, TooLarge, UnsupportedMediaType


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


# What a `charset=` may name, and the codec that reads it. GBK and GB2312 are read as
# GB18030, which contains them both (as browsers read them).
CHARSETS: dict[str, str] = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "gb18030": "gb18030",
    "gbk": "gb18030",
    "gb2312": "gb18030",
    "cp936": "gb18030",
}
_BOMS = (b"\xef\xbb\xbf", b"\x84\x31\x95\x33")  # UTF-8's and GB18030's


class UnknownCharset(ValueError):
    pass


def codec_for(charset: str | None) -> str | None:
    """The codec a named charset is read with (None for none named: UTF-8, else GB18030);
    UnknownCharset for one the gateway does not read."""
    if charset is None:
        return None
    codec = CHARSETS.get(charset.strip().lower())
    if codec is None:
        raise UnknownCharset(charset)
    return codec


class CsvText:
    """How a CSV's bytes become lines, a block of whole lines at a time, keeping line
    numbers for errors. With a codec named it is used throughout. Without one, lines are
    UTF-8 until one is not: then, if every line before it was plain ASCII (the same in
    both), the file is read as GB18030 from there on; after UTF-8 text other than ASCII it
    is an error, as is a line that is neither. A line holding a NUL byte is an error (a
    NUL cannot be stored): the upload stops at it, naming the line.

    Cutting at b"\n" is safe for every codec read here: in neither UTF-8 nor GB18030 is
    that byte ever part of a longer character, so each block decodes on its own."""

    def __init__(self, codec: str | None = None) -> None:
        self.codec = codec
        self._utf8_text = False  # UTF-8 other than ASCII read while no codec is fixed
        self._guessed = False  # GB18030 chosen because a line was not UTF-8

    def decode_block(self, block: bytes, before: int) -> list[str]:
        """The lines of a block of whole lines that `before` lines precede."""
        if before == 0:
            block = self._strip_bom(block)
        if b"\x00" not in block:
            if self.codec is not None or block.isascii():
                try:
                    return split_lines(block.decode(self.codec or "ascii"))
                except UnicodeDecodeError:
                    pass
            else:
                try:
                    text = block.decode("utf-8")
                except UnicodeDecodeError:
                    pass
                else:
                    self._utf8_text = True
                    return split_lines(text)
        return [self._line(raw, before + i) for i, raw in enumerate(block.split(b"\n"), 1)]

    def _strip_bom(self, block: bytes) -> bytes:
        for bom, codec in zip(_BOMS, ("utf-8", "gb18030"), strict=True):
            if block.startswith(bom):
                if self.codec is None:
                    self.codec = codec
                if self.codec == codec:
                    return block[len(bom) :]
        return block

    def _line(self, raw: bytes, number: int) -> str:
        if b"\x00" in raw:
            raise InvalidRequest(f"line {number}: contains a NUL character")
        if self.codec is None and not raw.isascii():
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                if self._utf8_text:
                    raise InvalidRequest(
                        f"line {number}: not UTF-8 text, though the lines before it were"
                    ) from None
                self.codec = "gb18030"
                self._guessed = True
            else:
                self._utf8_text = True
                return text.rstrip("\r")
        codec = self.codec or "ascii"
        try:
            return raw.decode(codec).rstrip("\r")
        except UnicodeDecodeError as e:
            named = (
                "neither UTF-8 nor GB18030"
                if self._guessed
                else "not UTF-8"
                if codec == "utf-8"
                else "not GB18030"
            )
            raise InvalidRequest(f"line {number}: {named} text") from e


def csv_text(request: web.Request) -> CsvText:
    """How the request's CSV body is read: by its `charset=`, else UTF-8 or GB18030.
    A charset the gateway does not read is 415."""
    try:
        return CsvText(codec_for(request.charset))
    except UnknownCharset:
        raise UnsupportedMediaType(
            f"charset {request.charset}: send utf-8, gbk, gb18030 or gb2312"
        ) from None


def body_blocks(
    request: web.Request, limit: int, text: CsvText | None = None
) -> AsyncIterator[tuple[int, list[str]]]:
    """The body's lines a block at a time (see `line_blocks`), blank lines included,
    read as `text` says (by default as the request's charset says, see `csv_text`)."""
    reader = text or csv_text(request)

    async def chunks() -> AsyncIterator[bytes]:
        if request.content_length is not None and request.content_length > limit:
            raise TooLarge(f"request body is larger than {limit} bytes")
        size = 0
        async for chunk in upload_chunks(request, 256 * 1024):
            size += len(chunk)
            if size > limit:
                raise TooLarge(f"request body is larger than {limit} bytes")
            yield chunk

    return line_blocks(chunks(), reader.decode_block)


async def body_lines(
    request: web.Request, limit: int, text: CsvText | None = None
) -> AsyncIterator[tuple[int, str]]:
    """Yield (1-based line number, line) pairs, as `body_blocks` reads them."""
    async for first, lines in body_blocks(request, limit, text):
        for number, line in enumerate(lines, first):
            yield number, line
