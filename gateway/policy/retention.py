"""How long a call's recording and record are kept ([2013], 保险法 87, [电子回访] 三), what
stops the retention job deleting one (a legal hold, a dispute: [回溯]), when a policy's
return visit (回访) falls due ([基本服务] 十五), and the refusal floor.

Years are added in UTC, as the retention job's SQL (`call_retention_until` and
`call_kept_by_dispute`) adds them; tests hold the two to the same answers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Final, Literal, NamedTuple
from zoneinfo import ZoneInfo

from gateway.policy.document import MAX_NO_SALE_DAYS, MIN_NO_SALE_DAYS, RetentionPolicy
from gateway.policy.types import SELLING_PURPOSES

# A customer's refusal stands six calendar months, and never fewer than this many days.
REFUSAL_MIN_DAYS: Final = 183
REFUSAL_MONTHS: Final = 6
_CHINA: Final = ZoneInfo("Asia/Shanghai")
SHORT_TERM_MONTHS: Final = 12
SHORT_TERM_YEARS: Final = 5
LONG_TERM_YEARS: Final = 10
RETURN_VISIT_YEARS: Final = 10
# A disputed call is kept while the dispute is open and this long after it closed.
DISPUTE_KEEP_YEARS: Final = 2

VisitStatus = Literal["due", "done", "overdue"]


class PolicyTerms(NamedTuple):
    """What of a policy sets how long its calls are kept."""

    term_months: int
    terminated_at: datetime | None  # None while the contract is in force


def add_years(moment: datetime, years: int) -> datetime:
    """The same date `years` later; 29 February becomes 1 March, never earlier."""
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:
        return moment.replace(year=moment.year + years, month=3, day=1)


def policy_kept_until(terms: PolicyTerms, *, return_visit: bool = False) -> datetime | None:
    """How long a call linked to this policy is kept for its sake; None while it is in force.

    A sale: 5 years after the contract ends for a term of 12 months or less, 10 years for
    a longer term. A return visit: 10 years after the contract ends, whatever the term.
    """
    if terms.terminated_at is None:
        return None
    if return_visit or terms.term_months > SHORT_TERM_MONTHS:
        years = LONG_TERM_YEARS
    else:
        years = SHORT_TERM_YEARS
    return add_years(terms.terminated_at.astimezone(UTC), years)


def retention_until(
    call_time: datetime,
    policy: RetentionPolicy,
    policies: Sequence[PolicyTerms] = (),
    *,
    return_visit: bool = False,
) -> datetime | None:
    """When the call's data may be deleted; None while it must be kept whatever the date.

    `policies` are the call's: those sold on it and, for a return visit (`callback`), the
    one it visited. The longest-lived decides: None when any is in force. A call without
    a policy is kept `no_sale_days` after the call, and a call with one never less; a
    return visit without one is kept until a supervisor names the policy it visited
    (None), and with one at least 10 years from the call.
    """
    if not policies:
        return None if return_visit else _no_sale(call_time, policy)
    ends = [policy_kept_until(p, return_visit=return_visit) for p in policies]
    latest: datetime | None = None
    for end in ends:
        if end is None:
            return None
        latest = end if latest is None else max(latest, end)
    assert latest is not None
    if return_visit:
        return max(latest, add_years(call_time.astimezone(UTC), RETURN_VISIT_YEARS))
    # Never sooner than a call without a sale (a contract that ended before the call).
    return max(latest, _no_sale(call_time, policy))


def _no_sale(call_time: datetime, policy: RetentionPolicy) -> datetime:
    # The bounds hold for every document the API accepts or the loader passes on; the
    # clamp and the net keep a read answering whatever reached this point.
    days = min(max(policy.no_sale_days, MIN_NO_SALE_DAYS), MAX_NO_SALE_DAYS)
    try:
        return call_time + timedelta(days=days)
    except OverflowError:
        return datetime.max.replace(tzinfo=call_time.tzinfo)


def dispute_keeps(closed_at: datetime | None, now: datetime) -> bool:
    """Whether a dispute still keeps its call: open, or closed less than two years ago."""
    return closed_at is None or now < add_years(closed_at.astimezone(UTC), DISPUTE_KEEP_YEARS)


def may_delete(
    until: datetime | None,
    now: datetime,
    *,
    held: bool = False,
    disputes_closed_at: Sequence[datetime | None] = (),
) -> bool:
    """Whether the retention job may delete a call's recording at `now`: its retention date
    has passed, no legal hold is on it, and no dispute keeps it."""
    if until is None or not until < now or held:
        return False
    return not any(dispute_keeps(closed, now) for closed in disputes_closed_at)


def needs_return_visit(purpose: str, term_months: int) -> bool:
    """A policy of more than a year sold on a sales call gets a return visit."""
    return purpose in SELLING_PURPOSES and term_months > SHORT_TERM_MONTHS


def return_visit_due_by(signed_at: datetime, cooling_off_days: int) -> datetime:
    """The end of the cooling-off period: the visit is done in time up to this moment."""
    return signed_at + timedelta(days=cooling_off_days)


def visit_status(due_by: datetime, done_at: datetime | None, now: datetime) -> VisitStatus:
    if done_at is not None:
        return "done"
    return "due" if now <= due_by else "overdue"


def done_in_time(due_by: datetime, done_at: datetime | None) -> bool:
    return done_at is not None and done_at <= due_by


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
