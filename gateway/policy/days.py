"""Day types from the built-in State Council calendar and the operator's overrides."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date
from functools import lru_cache

import chinese_calendar

from gateway.policy.types import DayType


@lru_cache(maxsize=1024)
def _built_in(d: date) -> DayType | None:
    try:
        on_leave, name = chinese_calendar.get_holiday_detail(d)
    except NotImplementedError:  # what the library raises for a year it has no data for
        return None
    if not on_leave:
        return "workday"  # weekdays, and the weekends worked in lieu (调休)
    return "holiday" if name is not None else "restday"


def _by_weekday(d: date) -> DayType:
    return "restday" if d.weekday() >= 5 else "workday"


def day_type_with(
    d: date, overrides: Mapping[date, DayType], override_years: Collection[int]
) -> DayType | None:
    """`day_type` for callers that already know which years `overrides` covers."""
    kind = overrides.get(d)
    if kind is not None:
        return kind
    kind = _built_in(d)
    if kind is not None:
        return kind
    return _by_weekday(d) if d.year in override_years else None


def day_type(d: date, overrides: Mapping[date, DayType]) -> DayType | None:
    """The day's type; None when neither the built-in calendar nor an override covers its year.

    An override for the day wins. A year without built-in data is available once the
    overrides hold any day of it; its other days go by the weekday.
    """
    kind = overrides.get(d)
    if kind is not None:
        return kind
    kind = _built_in(d)
    if kind is not None:
        return kind
    return _by_weekday(d) if any(day.year == d.year for day in overrides) else None
