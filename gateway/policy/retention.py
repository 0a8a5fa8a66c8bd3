"""How long a call's recording and record are kept, and the refusal floor ([2013], 保险法 87)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from gateway.policy.document import MAX_NO_SALE_DAYS, RetentionPolicy

# A customer's refusal stands six calendar months, and never fewer than this many days.
REFUSAL_MIN_DAYS: Final = 183
REFUSAL_MONTHS: Final = 6
_CHINA: Final = ZoneInfo("Asia/Shanghai")
SHORT_TERM_MONTHS: Final = 12
SHORT_TERM_YEARS: Final = 5
LONG_TERM_YEARS: Final = 10
RETURN_VISIT_YEARS: Final = 10


def add_years(moment: datetime, years: int) -> datetime:
    """The same date `years` later; 29 February becomes 1 March, never earlier."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, month=3, day=1)


def retention_until(
    call_time: datetime,
    policy: RetentionPolicy,
    sale_term_months: int | None,
    terminated_at: datetime | None,
    *,
    return_visit: bool = False,
) -> datetime | None:
    """When the call's data may be deleted; None while a sold contract is still in force.

    No sale: `no_sale_days` after the call. A sale: 5 years after the contract ends for a
    term of 12 months or less, 10 years for a longer term. A return visit (`callback`) is
    kept at least 10 years from the call whatever else applies.
    """
    until = _by_sale(call_time, policy, sale_term_months, terminated_at)
    if until is None or not return_visit:
        return until
    # Return-visit (回访) records are kept at least 10 years from the visit.
    return max(until, add_years(call_time, RETURN_VISIT_YEARS))


def _by_sale(
    call_time: datetime,
    policy: RetentionPolicy,
    sale_term_months: int | None,
    terminated_at: datetime | None,
) -> datetime | None:
    if sale_term_months is None:
        # The bound holds for every document the API accepts or the loader passes on;
        # the clamp and the net keep a read answering whatever reached this point.
        days = min(max(policy.no_sale_days, 1), MAX_NO_SALE_DAYS)
        try:
            return call_time + timedelta(days=days)
        except OverflowError:
            return datetime.max.replace(tzinfo=call_time.tzinfo)
    if terminated_at is None:
        return None
    years = SHORT_TERM_YEARS if sale_term_months <= SHORT_TERM_MONTHS else LONG_TERM_YEARS
    return add_years(terminated_at, years)


def months_on(day: date, months: int) -> date:
    """The same day number `months` calendar months later; the month's last day when that
    month is shorter (31 August + 6 months = 28 or 29 February)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    month_end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return date(year, month, min(day.day, month_end.day))


def refusal_floor_date(day: date) -> date:
    """The first day a refusal made on `day` (a calendar day in Asia/Shanghai) no longer
    has to stand: six calendar months on, and never fewer than 183 days on. So 2026-03-01
    gives 2026-09-01 (184 days), 2026-01-31 gives 2026-08-02 (six months would be
    2026-07-31, 181 days)."""
    return max(months_on(day, REFUSAL_MONTHS), day + timedelta(days=REFUSAL_MIN_DAYS))


def earliest_refusal_expiry(made_at: datetime) -> datetime:
    """The soonest a customer's refusal made at `made_at` may expire, and the end of its
    protection: the same time of day, Beijing time, on `refusal_floor_date` of its day."""
    local = made_at.astimezone(_CHINA)
    days = (refusal_floor_date(local.date()) - local.date()).days
    return made_at + timedelta(days=days)  # Beijing keeps no summer time: days are 24 h
