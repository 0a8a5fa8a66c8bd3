from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from gateway.policy import day_type
from gateway.policy.days import (
    built_in_covers,
    built_in_years,
    covered_by,
    covered_until,
    covered_until_timestamp,
    covers,
)


@pytest.mark.parametrize(
    ("day", "kind"),
    [
        (date(2026, 11, 23), "workday"),  # a Monday
        (date(2026, 11, 21), "restday"),  # an ordinary Saturday
        (date(2026, 11, 22), "restday"),  # an ordinary Sunday
        (date(2026, 10, 1), "holiday"),  # National Day
        (date(2026, 10, 3), "holiday"),  # a Saturday inside the holiday period
        (date(2026, 10, 10), "workday"),  # a Saturday worked in lieu (调休)
        (date(2025, 1, 28), "holiday"),  # Spring Festival eve
        (date(2025, 1, 26), "workday"),  # a Sunday worked in lieu
        (date(2027, 1, 4), None),  # no built-in data, no overrides
        (date(2003, 6, 2), None),
    ],
)
def test_day_types_from_the_built_in_calendar(day, kind):
    assert day_type(day, {}) == kind


def test_an_override_wins_over_the_built_in_calendar():
    assert day_type(date(2026, 11, 23), {date(2026, 11, 23): "holiday"}) == "holiday"
    assert day_type(date(2026, 10, 1), {date(2026, 10, 1): "workday"}) == "workday"


def test_entries_alone_do_not_make_a_year_available():
    # One holiday entered says nothing about the year's other holidays.
    overrides = {date(2027, 2, 6): "holiday", date(2027, 2, 20): "workday"}
    assert day_type(date(2027, 2, 6), overrides) is None
    assert day_type(date(2027, 2, 20), overrides) is None
    assert day_type(date(2027, 1, 4), overrides) is None
    assert day_type(date(2027, 1, 4), overrides, {2028}) is None


def test_a_year_declared_complete_is_available_with_its_entries_then_the_weekday():
    overrides = {date(2027, 2, 6): "holiday", date(2027, 2, 20): "workday"}
    assert day_type(date(2027, 2, 6), overrides, {2027}) == "holiday"
    assert day_type(date(2027, 2, 20), overrides, {2027}) == "workday"  # a Saturday worked
    assert day_type(date(2027, 1, 4), overrides, {2027}) == "workday"  # Monday
    assert day_type(date(2027, 1, 9), overrides, {2027}) == "restday"  # Saturday
    assert day_type(date(2028, 1, 4), overrides, {2027}) is None


def test_a_declaration_changes_nothing_in_a_built_in_year():
    assert day_type(date(2026, 10, 1), {}, {2026}) == "holiday"
    assert day_type(date(2026, 10, 10), {}, {2026}) == "workday"  # worked in lieu
    assert day_type(date(2026, 10, 1), {date(2026, 10, 1): "workday"}, {2026}) == "workday"


@pytest.mark.parametrize(
    ("year", "complete_years", "by"),
    [
        (2004, set(), "built_in"),
        (2026, set(), "built_in"),
        (2026, {2026}, "built_in"),  # the built-in calendar is named first
        (2027, set(), None),
        (2027, {2027}, "declared"),
        (2003, set(), None),
        (1970, {1970}, "declared"),
    ],
)
def test_what_covers_a_year(year, complete_years, by):
    assert covered_by(year, complete_years) == by
    assert covers(year, complete_years) is (by is not None)


def test_the_built_in_years_are_2004_to_2026():
    assert built_in_years() == list(range(2004, 2027))
    assert not built_in_covers(0) and not built_in_covers(10_000)


@pytest.mark.parametrize(
    ("today", "complete_years", "until"),
    [
        (date(2026, 12, 1), set(), date(2026, 12, 31)),  # the built-in data ends with 2026
        (date(2026, 12, 31), set(), date(2026, 12, 31)),
        (date(2004, 1, 1), set(), date(2026, 12, 31)),
        (date(2026, 12, 1), {2027}, date(2027, 12, 31)),
        (date(2026, 12, 1), {2027, 2028}, date(2028, 12, 31)),
        (date(2026, 12, 1), {2028}, date(2026, 12, 31)),  # 2027 missing: the run stops there
        (date(2027, 1, 1), set(), None),  # run out
        (date(2027, 6, 1), {2027}, date(2027, 12, 31)),
        (date(2003, 6, 2), set(), None),  # before the built-in data
    ],
)
def test_covered_until_is_the_end_of_the_years_covered_without_a_gap(today, complete_years, until):
    assert covered_until(today, complete_years) == until


def test_every_day_up_to_covered_until_has_a_day_type_and_the_next_has_none():
    overrides = {date(2027, 5, 1): "holiday", date(2028, 5, 1): "holiday"}
    until = covered_until(date(2026, 11, 23), {2027})
    assert until == date(2027, 12, 31)
    day = date(2026, 11, 23)
    while day <= until:
        assert day_type(day, overrides, {2027}) is not None, day
        day += timedelta(days=1)
    assert day_type(day, overrides, {2027}) is None


def test_the_timestamp_is_the_end_of_the_last_day_in_the_zone():
    now = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    end = datetime(2027, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert covered_until_timestamp(now, set(), "Asia/Shanghai") == end.timestamp()
    # 2026-12-31 16:30 UTC is already 2027 in Beijing: run out there.
    late = datetime(2026, 12, 31, 16, 30, tzinfo=UTC)
    assert covered_until_timestamp(late, set(), "Asia/Shanghai") == 0.0
    assert covered_until_timestamp(late, {2027}, "Asia/Shanghai") > late.timestamp()
