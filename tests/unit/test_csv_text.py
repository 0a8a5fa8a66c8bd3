"""How a CSV upload's bytes become numbered lines: the charset it names, else UTF-8 and
then GB18030, and the errors that name a line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.api.csvlines import CsvText, UnknownCharset, codec_for
from gateway.core.errors import InvalidRequest


def read(body: bytes, codec: str | None = None, block_lines: int = 1) -> list[str]:
    """The body's lines, cut into blocks of `block_lines` whole lines as uploads are."""
    text = CsvText(codec)
    raw = body.split(b"\n")
    out: list[str] = []
    for start in range(0, len(raw), block_lines):
        out.extend(text.decode_block(b"\n".join(raw[start : start + block_lines]), start))
    return out


@pytest.mark.parametrize(
    ("charset", "codec"),
    [
        (None, None),
        ("utf-8", "utf-8"),
        ("UTF8", "utf-8"),
        ("gbk", "gb18030"),
        ("GB2312", "gb18030"),
        ("gb18030", "gb18030"),
    ],
)
def test_a_named_charset_picks_its_codec(charset: str | None, codec: str | None) -> None:
    assert codec_for(charset) == codec


@pytest.mark.parametrize("charset", ["latin-1", "utf-16", "big5", "", "shift_jis"])
def test_a_charset_the_gateway_does_not_read_is_refused(charset: str) -> None:
    with pytest.raises(UnknownCharset):
        codec_for(charset)


@pytest.mark.parametrize(
    ("body", "codec", "lines"),
    [
        ("号码,原因\n13812345678,客户拒绝".encode(), None, ["号码,原因", "13812345678,客户拒绝"]),
        (
            "13812345678\n13912345678,客户拒绝".encode("gbk"),
            None,
            ["13812345678", "13912345678,客户拒绝"],
        ),
        ("13812345678,客户拒绝\r\n".encode("gbk"), "gb18030", ["13812345678,客户拒绝", ""]),
        ("13812345678,€".encode("gb18030"), None, ["13812345678,€"]),
        (b"\xef\xbb\xbfnumber\n1", None, ["number", "1"]),
        (b"\x84\x31\x95\x33number\n1", "gb18030", ["number", "1"]),
        ("13812345678,拒绝".encode(), "utf-8", ["13812345678,拒绝"]),
    ],
)
def test_lines_are_read_in_their_encoding(body: bytes, codec: str | None, lines: list[str]) -> None:
    assert read(body, codec) == lines
    assert read(body, codec, block_lines=100) == lines


@pytest.mark.parametrize(
    ("body", "codec", "message"),
    [
        (b"1\n2\n3\xff\n", None, "line 3: neither UTF-8 nor GB18030 text"),
        (
            "1\n拒绝\n".encode() + "拒绝".encode("gbk"),
            None,
            "line 3: not UTF-8 text, though the lines before it were",
        ),
        (b"1\n" + "拒绝".encode("gbk"), "utf-8", "line 2: not UTF-8 text"),
        (b"\xef\xbb\xbf1\n" + "拒绝".encode("gbk"), None, "line 2: not UTF-8 text"),
        (b"1\n\x81\x20\n", "gb18030", "line 2: not GB18030 text"),
        (b"1\n2\n13812345678,a\x00b\n", None, "line 3: contains a NUL character"),
        (b"1\n2\n13812345678,a\x00b\n", "gb18030", "line 3: contains a NUL character"),
    ],
)
def test_a_line_that_is_not_text_is_refused_by_number(
    body: bytes, codec: str | None, message: str
) -> None:
    for block_lines in (1, 100):
        with pytest.raises(InvalidRequest) as caught:
            read(body, codec, block_lines)
        assert str(caught.value) == message


lines_of_text = st.lists(
    st.text(st.characters(blacklist_characters="\n\r\x00", blacklist_categories=("Cs",))),
    min_size=1,
    max_size=8,
)


@given(lines_of_text, st.integers(1, 4))
def test_utf8_reads_back_the_same_lines_without_a_charset(lines: list[str], block: int) -> None:
    assert read("\n".join(lines).encode(), None, block) == lines


@given(lines_of_text, st.integers(1, 4), st.sampled_from([None, "gb18030"]))
def test_gb18030_reads_back_the_same_lines(lines: list[str], block: int, codec: str | None) -> None:
    body = "\n".join(lines).encode("gb18030")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        codec = codec or "gb18030"  # bytes that are UTF-8 too are read as UTF-8 unless named
    if codec is None and any(_utf8_but_not_ascii(line) for line in body.split(b"\n")):
        codec = "gb18030"  # a line both encodings read: the file must name its charset
    assert read(body, codec, block) == lines


def _utf8_but_not_ascii(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return not raw.isascii()
