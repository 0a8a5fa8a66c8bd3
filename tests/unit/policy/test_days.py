from __future__ import annotations

from datetime import date

import pytest

from gateway.policy import day_type


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


def test_any_override_in_a_year_makes_that_years_calendar_available():
    overrides = {date(2027, 2, 6): "holiday"}
    assert day_type(date(2027, 2, 6), overrides) == "holiday"
    assert day_type(date(2027, 1, 4), overrides) == "workday"  # Monday
    assert day_type(date(2027, 1, 9), overrides) == "restday"  # Saturday
    assert day_type(date(2028, 1, 4), overrides) is None
