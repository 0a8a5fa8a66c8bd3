"""Pure parts of a do-not-call import: the batch size, line parsing, the whole-block path
for plain mobiles, and reading a file a block at a time."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway import dnc_cli
from gateway.core.errors import InvalidRequest
from gateway.dnc_cli import file_blocks
from gateway.store.dnc_import import (
    BATCH_MAX,
    BATCH_MIN,
    ImportReport,
    batch_size,
    parse_line,
    plain_lines,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expected_lines", "batch"),
    [
        (0, BATCH_MIN),
        (10_000, BATCH_MIN),
        (1_000_000, BATCH_MIN),
        (2_000_000, 100_000),
        (15_000_000, BATCH_MAX),
        (100_000_000, BATCH_MAX),
    ],
)
def test_large_imports_insert_in_larger_batches(expected_lines: int, batch: int) -> None:
    assert batch_size(expected_lines) == batch


@pytest.mark.parametrize(
    ("line", "row"),
    [
        ("13812345678", ("+8613812345678", None, None)),
        ("+86 138 1234 5678,asked", ("+8613812345678", "asked", None)),
        (
            "13812345678,,2030-01-01",
            ("+8613812345678", None, datetime.fromisoformat("2030-01-01T00:00:00+08:00")),
        ),
        ("", None),
    ],
)
def test_good_lines_become_rows(line: str, row: object) -> None:
    report = ImportReport()
    assert parse_line(2, line, report, NOW) == row
    assert report.invalid_count == 0


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("12345", "not a valid mainland"),
        ("13812345678,a,b,c", "too many fields"),
        ("13812345678,,2020-01-01", "expires_at is in the past"),
        ("13812345678,,soon", "is not a date or time"),
        ("13812345678," + "x" * 501, "reason longer than 500"),
    ],
)
def test_bad_lines_are_reported_with_their_number(line: str, error: str) -> None:
    report = ImportReport()
    assert parse_line(7, line, report, NOW) is None
    assert report.invalid_count == 1
    assert report.invalid[0].line == 7
    assert error in report.invalid[0].error


# Lines near the plain forms: mobiles with or without a reason, and what differs from
# them by a character, a space, a quote or a field.
near_plain = st.one_of(
    st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    st.from_regex(r"1[3-9][0-9]{9},[a-z ]{0,5}", fullmatch=True),
    st.from_regex(r"1[0-9]{9,11}", fullmatch=True),
    st.from_regex(r" ?1[3-9][0-9]{9} ?(,[a-z\",]{0,3})?", fullmatch=True),
    st.sampled_from(
        ["", "number", "+8613812345678", "13812345678,,2030-01-01", "1381234567８", "13812345678,"]
    ),
    st.builds(lambda n: f"13812345678,{'x' * n}", st.integers(495, 505)),
    st.text(alphabet='0123456789 ,+\r\t"١', max_size=14),
)


@given(st.lists(near_plain, min_size=1, max_size=20))
def test_a_block_taken_whole_means_what_each_line_would(lines: list[str]) -> None:
    """Whatever the lines, the whole-block path takes a block only when `parse_line`
    would make of each line exactly the number and reason it reads."""
    plain = plain_lines(lines)
    if plain is not None:
        for number, (line, (national, reason)) in enumerate(zip(lines, plain, strict=True), 2):
            report = ImportReport()
            row = parse_line(number, line, report, NOW)  # line 2: not a header's place
            assert row == (f"+86{national}", reason.strip() or None, None)
            assert report.invalid_count == 0


@given(
    st.lists(
        st.tuples(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True), st.text("ab ", max_size=3)),
        min_size=1,
        max_size=50,
    )
)
def test_a_block_of_mobiles_is_taken_whole_exactly_when_each_is_one(
    pairs: list[tuple[str, str]],
) -> None:
    lines = [f"{n},{r}" if r else n for n, r in pairs]
    rows = [parse_line(2, line, ImportReport(), NOW) for line in lines]
    expected = [(f"+86{n}", r.strip() or None, None) for n, r in pairs]
    assert (plain_lines(lines) is not None) is (rows == expected)


@pytest.mark.parametrize(
    ("lines", "whole"),
    [
        (["13812345678", "15912345678", "16612345678"], True),
        (["13812345678,asked on the phone", "15912345678,", "16612345678"], True),
        (["13812345678", ""], False),
        (["number", "13812345678"], False),
        (["13812345678 "], False),
        (["13812345678,a,2030-01-01"], False),
        (['13812345678,"quoted"'], False),
        (["13812345678," + "x" * 501], False),
        (["1381234567８"], False),  # a full-width digit
        (["12812345678"], False),  # no such mobile range
        ([], False),
    ],
)
def test_plain_blocks(lines: list[str], whole: bool) -> None:
    assert (plain_lines(lines) is not None) is whole


async def read_blocks(path: Path) -> list[tuple[int, str]]:
    out = []
    async for first, lines in file_blocks(path, None):
        out.extend(enumerate(lines, first))
    return out


async def test_a_file_is_read_in_blocks_with_every_line_numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dnc_cli, "FILE_BLOCK_BYTES", 7)  # lines span reads
    path = tmp_path / "list.csv"
    path.write_bytes(
        b"\xef\xbb\xbfnumber\r\n13812345678\r\n\r\n15912345678,a much longer reason\n13912345678"
    )
    assert await read_blocks(path) == [
        (1, "number"),
        (2, "13812345678"),
        (3, ""),
        (4, "15912345678,a much longer reason"),
        (5, "13912345678"),
    ]


async def test_a_gbk_file_is_read_as_gb18030_with_its_lines_numbered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dnc_cli, "FILE_BLOCK_BYTES", 5)  # characters span reads
    path = tmp_path / "list.csv"
    path.write_bytes("号码,原因\n13812345678,客户拒绝\n13912345678".encode("gbk"))
    assert await read_blocks(path) == [
        (1, "号码,原因"),
        (2, "13812345678,客户拒绝"),
        (3, "13912345678"),
    ]


async def test_a_file_byte_that_is_no_text_stops_the_read_naming_its_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"13812345678\n15912345678,\xff\n")
    with pytest.raises(InvalidRequest, match=r"^line 2: neither UTF-8 nor GB18030 text$"):
        await read_blocks(path)


async def test_a_file_ending_with_a_newline_has_no_extra_line(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"13812345678\n13912345678\n")
    assert await read_blocks(path) == [(1, "13812345678"), (2, "13912345678")]
