"""Day types from the built-in State Council calendar and the operator's overrides."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

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


def _covered(year: int, override_years: Collection[int]) -> bool:
    return year in override_years or _built_in(date(year, 1, 1)) is not None


def covered_until(today: date, override_years: Collection[int]) -> date | None:
    """The last day with a day type in the run of years covered without a gap from
    `today`'s year on; None when `today`'s year itself is not covered."""
    year = today.year
    if not _covered(year, override_years):
        return None
    while _covered(year + 1, override_years):
        year += 1
    return date(year, 12, 31)


def covered_until_timestamp(now: datetime, override_years: Collection[int], tz: str) -> float:
    """When the calendar runs out, as Unix time: the end of `covered_until` in `tz`; 0 when
    it has already run out (checks are then denied with calendar_unavailable)."""
    zone = ZoneInfo(tz)
    until = covered_until(now.astimezone(zone).date(), override_years)
    if until is None:
        return 0.0
    return datetime.combine(until + timedelta(days=1), time(), zone).timestamp()
