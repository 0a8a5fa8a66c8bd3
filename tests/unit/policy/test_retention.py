from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from gateway.policy import (
    REFUSAL_MIN_DAYS,
    RetentionPolicy,
    earliest_refusal_expiry,
    retention_until,
)

CST = timezone(timedelta(hours=8))
CALL = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
ENDED = datetime(2031, 6, 30, 0, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("term_months", "terminated_at", "until"),
    [
        (None, None, CALL + timedelta(days=1095)),  # no sale: the company default
        (None, ENDED, CALL + timedelta(days=1095)),
        (12, None, None),  # contract in force: kept
        (240, None, None),
        (1, ENDED, datetime(2036, 6, 30, tzinfo=CST)),
        (12, ENDED, datetime(2036, 6, 30, tzinfo=CST)),  # <= 1 year: 5 years
        (13, ENDED, datetime(2041, 6, 30, tzinfo=CST)),  # > 1 year: 10 years
        (12, datetime(2028, 2, 29, tzinfo=CST), datetime(2033, 3, 1, tzinfo=CST)),
    ],
)
def test_retention_follows_the_sale(term_months, terminated_at, until):
    assert retention_until(CALL, RetentionPolicy(), term_months, terminated_at) == until


def test_no_sale_retention_is_the_policy_setting():
    assert retention_until(CALL, RetentionPolicy(no_sale_days=30), None, None) == CALL + timedelta(
        days=30
    )


@pytest.mark.parametrize("days", [36500, 36501, 3_000_000, 10**12])
def test_a_no_sale_retention_past_its_bound_is_read_at_the_bound(days):
    # A document saved before the bounds existed must not make a call unreadable.
    until = retention_until(CALL, RetentionPolicy(no_sale_days=days), None, None)
    assert until == CALL + timedelta(days=36500)


def test_a_retention_date_past_the_last_representable_day_is_that_day():
    late = datetime(9950, 1, 1, tzinfo=CST)
    assert retention_until(late, RetentionPolicy(no_sale_days=36500), None, None) == (
        datetime.max.replace(tzinfo=CST)
    )


def test_a_refusal_may_not_expire_within_183_days():
    assert REFUSAL_MIN_DAYS == 183
    assert earliest_refusal_expiry(CALL) == CALL + timedelta(days=183)
