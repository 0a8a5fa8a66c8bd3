"""Pure parts of a do-not-call import: the batch size and line parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.store.dnc_import import BATCH_MAX, BATCH_MIN, ImportReport, batch_size, parse_line

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
