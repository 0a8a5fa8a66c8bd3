"""Which job runs count as having changed something (and so log at INFO when quiet)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.jobs.runner import changed_something


@pytest.mark.parametrize(
    ("counts", "changed"),
    [
        ({}, False),
        ({"ended": 0, "changes_forgotten": 0}, False),
        ({"ended": 1, "changes_forgotten": 0}, True),
        ({"would_end": 4}, True),
        ({"skipped": "run it without --dry-run"}, False),
        ({"flag": True}, False),
    ],
)
def test_a_run_changed_something_when_a_count_is_above_zero(
    counts: dict[str, Any], changed: bool
) -> None:
    assert changed_something(counts) is changed
