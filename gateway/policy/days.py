"""Day types from the built-in State Council calendar and the operator's calendar entries.

A year is covered when the built-in calendar has it, or when an admin has declared its
entries complete (`PUT /v1/holidays/years/{year}`): entering one holiday of a year says
nothing about its other holidays, so entries alone cover nothing. In a covered year an
entry for the day wins, then the built-in calendar, then the weekday. A day of a year
not covered has no type, and every check on it is denied (calendar_unavailable).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import MAXYEAR, MINYEAR, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final, Literal
from zoneinfo import ZoneInfo

import chinese_calendar

from gateway.policy.types import DayType

# The years a calendar may be declared for.
FIRST_YEAR: Final = 1970
LAST_YEAR: Final = 2199

CoveredBy = Literal["built_in", "declared"]


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


@lru_cache(maxsize=512)
def built_in_covers(year: int) -> bool:
    """Whether the built-in calendar has the year (it holds whole years: 2004-2026)."""
    return MINYEAR <= year <= MAXYEAR and _built_in(date(year, 1, 1)) is not None


def built_in_years() -> list[int]:
    """The years from FIRST_YEAR to LAST_YEAR the built-in calendar covers."""
    return [y for y in range(FIRST_YEAR, LAST_YEAR + 1) if built_in_covers(y)]


def covered_by(year: int, complete_years: Collection[int]) -> CoveredBy | None:
    """What covers the year: the built-in calendar first, else a declaration; None when
    nothing does."""
    if built_in_covers(year):
        return "built_in"
    if year in complete_years:
        return "declared"
    return None


def covers(year: int, complete_years: Collection[int]) -> bool:
    return year in complete_years or built_in_covers(year)


def day_type(
    d: date, overrides: Mapping[date, DayType], complete_years: Collection[int] = ()
) -> DayType | None:
    """The day's type; None when its year is covered neither by the built-in calendar nor
    by a declaration in `complete_years`, whatever `overrides` holds for it.

    In a covered year an override (a calendar entry) for the day wins; a day the built-in
    calendar lacks goes by the weekday.
    """
    if not covers(d.year, complete_years):
        return None
    kind = overrides.get(d)
    if kind is not None:
        return kind
    return _built_in(d) or _by_weekday(d)


def covered_until(today: date, complete_years: Collection[int]) -> date | None:
    """The last day with a day type in the run of years covered without a gap from
    `today`'s year on; None when `today`'s year itself is not covered."""
    year = today.year
    if not covers(year, complete_years):
        return None
    while year < MAXYEAR and covers(year + 1, complete_years):
        year += 1
    return date(year, 12, 31)


def covered_until_timestamp(now: datetime, complete_years: Collection[int], tz: str) -> float:
    """When the calendar runs out, as Unix time: the end of `covered_until` in `tz`; 0 when
    it has already run out (checks are then denied with calendar_unavailable)."""
    zone = ZoneInfo(tz)
    until = covered_until(now.astimezone(zone).date(), complete_years)
    if until is None:
        return 0.0
    return datetime.combine(until + timedelta(days=1), time(), zone).timestamp()
