from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import (
    REFUSAL_MIN_DAYS,
    RetentionPolicy,
    earliest_refusal_expiry,
    retention_until,
)
from gateway.policy.retention import months_on, refusal_floor_date

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


# refusal made on (Beijing date) -> the first day it no longer has to stand, days between
REFUSAL_FLOOR_TABLE = [
    ("2026-03-01", "2026-09-01", 184),  # six months is 184 days: the floor is six months
    ("2026-07-31", "2027-01-31", 184),
    ("2026-05-15", "2026-11-15", 184),
    ("2026-08-31", "2027-03-02", 183),  # six months, 2027-02-28, is 181 days: 183 days
    ("2026-01-31", "2026-08-02", 183),  # six months, 2026-07-31, is 181 days
    ("2026-11-02", "2027-05-04", 183),
    ("2026-09-30", "2027-04-01", 183),  # six months, 2027-03-30, is 181 days
    ("2027-08-31", "2028-03-01", 183),  # a leap year: 29 February is 182 days on
    ("2026-04-30", "2026-10-30", 183),
    ("2026-06-30", "2026-12-30", 183),
]


@pytest.mark.parametrize(("made", "floor", "days"), REFUSAL_FLOOR_TABLE)
def test_a_refusal_stands_six_calendar_months_and_never_under_183_days(made, floor, days):
    day = date.fromisoformat(made)
    assert refusal_floor_date(day) == date.fromisoformat(floor)
    assert (refusal_floor_date(day) - day).days == days


def test_six_months_on_can_be_184_days_and_then_the_floor_is_184_days():
    made = datetime(2026, 3, 1, 15, 30, tzinfo=CST)
    assert earliest_refusal_expiry(made) == datetime(2026, 9, 1, 15, 30, tzinfo=CST)
    assert earliest_refusal_expiry(made) - made == timedelta(days=184)


def test_the_floor_counts_calendar_days_in_beijing():
    # 2026-02-28T20:00Z is already 1 March in Beijing: six months on is 1 September.
    made = datetime(2026, 2, 28, 20, 0, tzinfo=UTC)
    assert earliest_refusal_expiry(made) == made + timedelta(days=184)


@given(st.dates(min_value=date(1970, 1, 1), max_value=date(2199, 6, 30)))
def test_the_floor_is_six_months_on_or_183_days_whichever_is_later(day):
    floor = refusal_floor_date(day)
    six = months_on(day, 6)
    assert floor == max(six, day + timedelta(days=REFUSAL_MIN_DAYS))
    assert 183 <= (floor - day).days <= 184
    # six months on keeps the day number, or is the last day of a shorter month
    assert (six.year * 12 + six.month) - (day.year * 12 + day.month) == 6
    assert six.day == day.day or (six.day < day.day and (six + timedelta(days=1)).day == 1)


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2199, 6, 30),
        timezones=st.sampled_from([UTC, CST, timezone(timedelta(hours=-5))]),
    )
)
def test_a_refusal_stands_at_least_183_days_and_six_months_in_beijing(made):
    until = earliest_refusal_expiry(made)
    assert until - made in (timedelta(days=183), timedelta(days=184))
    local = made.astimezone(CST)
    assert until.astimezone(CST).date() >= months_on(local.date(), 6)
    assert until.astimezone(CST).time() == local.time()
