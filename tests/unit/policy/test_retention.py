from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import (
    REFUSAL_MIN_DAYS,
    PolicyTerms,
    RetentionPolicy,
    earliest_refusal_expiry,
    may_delete,
    retention_until,
)
from gateway.policy.retention import (
    add_years,
    dispute_keeps,
    done_in_time,
    months_on,
    needs_return_visit,
    refusal_floor_date,
    return_visit_due_by,
    visit_status,
)

CST = timezone(timedelta(hours=8))
CALL = datetime(2026, 11, 23, 10, 0, tzinfo=CST)
ENDED = datetime(2031, 6, 30, 0, 0, tzinfo=CST)


@pytest.mark.parametrize(
    ("term_months", "terminated_at", "until"),
    [
        (12, None, None),  # contract in force: kept
        (240, None, None),
        (1, ENDED, datetime(2036, 6, 30, tzinfo=CST)),
        (12, ENDED, datetime(2036, 6, 30, tzinfo=CST)),  # <= 1 year: 5 years
        (13, ENDED, datetime(2041, 6, 30, tzinfo=CST)),  # > 1 year: 10 years
        (12, datetime(2028, 2, 29, 8, tzinfo=CST), datetime(2033, 3, 1, 8, tzinfo=CST)),
    ],
)
def test_retention_follows_the_sale(term_months, terminated_at, until):
    terms = [PolicyTerms(term_months, terminated_at)]
    assert retention_until(CALL, RetentionPolicy(), terms) == until


def test_a_call_without_a_sale_is_kept_the_no_sale_days():
    assert retention_until(CALL, RetentionPolicy(), []) == CALL + timedelta(days=1095)
    assert retention_until(CALL, RetentionPolicy(no_sale_days=400), []) == CALL + timedelta(
        days=400
    )


@pytest.mark.parametrize("days", [1, 30, 89])
def test_a_no_sale_retention_under_the_floor_is_read_at_the_floor(days):
    until = retention_until(CALL, RetentionPolicy(no_sale_days=days), [])
    assert until == CALL + timedelta(days=90)


@pytest.mark.parametrize("days", [36500, 36501, 3_000_000, 10**12])
def test_a_no_sale_retention_past_its_bound_is_read_at_the_bound(days):
    # A document saved before the bounds existed must not make a call unreadable.
    until = retention_until(CALL, RetentionPolicy(no_sale_days=days), [])
    assert until == CALL + timedelta(days=36500)


def test_a_retention_date_past_the_last_representable_day_is_that_day():
    late = datetime(9950, 1, 1, tzinfo=CST)
    assert retention_until(late, RetentionPolicy(no_sale_days=36500), []) == (
        datetime.max.replace(tzinfo=CST)
    )


@pytest.mark.parametrize(
    ("policies", "until"),
    [
        # The longest-lived policy decides.
        (
            [PolicyTerms(12, datetime(2030, 1, 1, tzinfo=UTC)), PolicyTerms(24, ENDED)],
            datetime(2041, 6, 30, tzinfo=CST),
        ),
        (
            [PolicyTerms(12, datetime(2040, 1, 1, tzinfo=UTC)), PolicyTerms(24, ENDED)],
            datetime(2045, 1, 1, tzinfo=UTC),
        ),
        # One in force keeps the call, whatever the others.
        ([PolicyTerms(12, ENDED), PolicyTerms(240, None)], None),
        ([PolicyTerms(240, None), PolicyTerms(12, ENDED)], None),
    ],
)
def test_a_call_selling_several_policies_follows_the_longest_lived(policies, until):
    assert retention_until(CALL, RetentionPolicy(), policies) == until


@pytest.mark.parametrize(
    ("policies", "until"),
    [
        ([], None),  # names no policy: kept until a supervisor names it
        ([PolicyTerms(240, None)], None),  # the policy visited is in force
        ([PolicyTerms(24, ENDED)], datetime(2041, 6, 30, tzinfo=CST)),
        ([PolicyTerms(6, ENDED)], datetime(2041, 6, 30, tzinfo=CST)),  # 10 years, any term
        # At least 10 years from the call.
        (
            [PolicyTerms(6, datetime(2026, 1, 1, tzinfo=CST))],
            datetime(2036, 11, 23, 10, tzinfo=CST),
        ),
    ],
)
def test_a_return_visit_is_kept_ten_years_from_the_end_of_the_policy_it_visited(policies, until):
    assert retention_until(CALL, RetentionPolicy(), policies, return_visit=True) == until


def test_a_sale_never_keeps_a_call_shorter_than_no_sale_would():
    ended_before = datetime(2020, 1, 1, tzinfo=CST)
    until = retention_until(CALL, RetentionPolicy(), [PolicyTerms(12, ended_before)])
    assert until == CALL + timedelta(days=1095)


def test_years_are_added_as_the_database_adds_them_in_utc():
    # 1 March 00:30 in Beijing is 29 February in UTC: five years on is 1 March UTC.
    ended = datetime(2028, 3, 1, 0, 30, tzinfo=CST)
    until = retention_until(CALL, RetentionPolicy(), [PolicyTerms(12, ended)])
    assert until == datetime(2033, 3, 1, 16, 30, tzinfo=UTC)
    assert add_years(datetime(2028, 2, 29, tzinfo=UTC), 2) == datetime(2030, 3, 1, tzinfo=UTC)


# --- what the retention job may delete ---------------------------------------------------------

NOW = datetime(2030, 6, 1, 2, 30, tzinfo=UTC)
PAST = NOW - timedelta(days=1)


@pytest.mark.parametrize(
    ("until", "held", "disputes", "deletable"),
    [
        (PAST, False, [], True),
        (NOW, False, [], False),  # the date has to have passed
        (None, False, [], False),  # kept indefinitely
        (PAST, True, [], False),  # legal hold
        (PAST, False, [None], False),  # an open dispute
        (PAST, False, [NOW - timedelta(days=700)], False),  # closed less than two years ago
        (PAST, False, [datetime(2028, 6, 1, 2, 30, tzinfo=UTC)], True),  # two years to the moment
        (PAST, False, [datetime(2028, 6, 1, 2, 31, tzinfo=UTC)], False),
        (PAST, False, [datetime(2020, 1, 1, tzinfo=UTC), None], False),
        (PAST, False, [datetime(2020, 1, 1, tzinfo=UTC)], True),
    ],
)
def test_what_the_retention_job_may_delete(until, held, disputes, deletable):
    assert may_delete(until, NOW, held=held, disputes_closed_at=disputes) is deletable


def test_a_dispute_closed_on_29_february_keeps_its_call_until_1_march():
    closed = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert dispute_keeps(closed, datetime(2030, 2, 28, 23, 59, tzinfo=UTC))
    assert dispute_keeps(closed, datetime(2030, 3, 1, 11, 59, tzinfo=UTC))
    assert not dispute_keeps(closed, datetime(2030, 3, 1, 12, tzinfo=UTC))


moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2150, 1, 1), timezones=st.just(UTC)
)
terms = st.builds(PolicyTerms, st.integers(1, 1200), st.none() | moments)


@given(
    call_time=moments,
    now=moments,
    no_sale_days=st.integers(1, 40000),
    policies=st.lists(terms, max_size=4),
    return_visit=st.booleans(),
    held=st.booleans(),
    disputes=st.lists(st.none() | moments, max_size=3),
)
def test_no_recording_kept_by_a_live_policy_a_hold_or_a_dispute_is_ever_deleted(
    call_time, now, no_sale_days, policies, return_visit, held, disputes
):
    until = retention_until(
        call_time, RetentionPolicy(no_sale_days), policies, return_visit=return_visit
    )
    deletable = may_delete(until, now, held=held, disputes_closed_at=disputes)
    if deletable:
        assert not held
        assert all(p.terminated_at is not None for p in policies)
        assert all(c is not None and now >= add_years(c, 2) for c in disputes)
        assert not (return_visit and not policies)  # an unlinked return visit is kept
        assert now > call_time + timedelta(days=90)  # never sooner than the floor
        for p in policies:
            assert p.terminated_at is not None
            years = 10 if return_visit or p.term_months > 12 else 5
            assert now > add_years(p.terminated_at, years)
        if return_visit:
            assert now > add_years(call_time, 10)


@given(policies=st.lists(terms, min_size=1, max_size=4), extra=terms, call_time=moments)
def test_linking_another_policy_never_shortens_a_calls_retention(policies, extra, call_time):
    before = retention_until(call_time, RetentionPolicy(), policies)
    after = retention_until(call_time, RetentionPolicy(), [*policies, extra])
    assert after is None or (before is not None and after >= before)


# --- return visits --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("purpose", "term_months", "needed"),
    [
        ("marketing", 13, True),
        ("appointment", 240, True),
        ("marketing", 12, False),  # a year or less: no return visit
        ("callback", 240, False),
        ("service", 240, False),
    ],
)
def test_a_return_visit_is_due_for_policies_over_a_year_sold_on_sales_calls(
    purpose, term_months, needed
):
    assert needs_return_visit(purpose, term_months) is needed


def test_a_return_visit_is_due_by_the_end_of_the_cooling_off_period():
    signed = datetime(2026, 11, 23, 15, 0, tzinfo=CST)
    due = return_visit_due_by(signed, 15)
    assert due == datetime(2026, 12, 8, 15, 0, tzinfo=CST)
    assert visit_status(due, None, due) == "due"
    assert visit_status(due, None, due + timedelta(seconds=1)) == "overdue"
    assert visit_status(due, due, due + timedelta(days=9)) == "done"
    assert done_in_time(due, due)
    assert not done_in_time(due, due + timedelta(seconds=1))
    assert not done_in_time(due, None)


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
