"""Rule `frequency`: attempt caps for the purposes the policy counts (marketing and
appointment always), and what Redis is asked."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.policy import (
    DEFAULT_POLICY,
    Facts,
    FrequencyPolicy,
    PolicyDocument,
    Purpose,
    Snapshot,
    fact_query,
    frequency_reasons,
    validate_policy,
)
from gateway.policy.facts import day_starts_ms

from .world import ALL_PURPOSES, NOW, context, request, snapshot, verdict

MINUTE_MS = 60_000
NOW_MS = int(NOW.timestamp() * 1000)
CAPPED = {"frequency_exceeded"}


BUSY = Facts(attempts_today=9, attempts_7_days=9, last_attempt_ms=NOW_MS - MINUTE_MS)


def _counting(*purposes: Purpose) -> PolicyDocument:
    return msgspec.structs.replace(DEFAULT_POLICY, frequency_purposes=purposes)


@pytest.mark.parametrize(
    ("frequency_purposes", "purpose", "counted"),
    [
        # By default every purpose is counted and capped.
        (None, "marketing", True),
        (None, "appointment", True),
        (None, "callback", True),
        (None, "service", True),
        # The admin may take callback and service out.
        (("marketing", "appointment"), "callback", False),
        (("marketing", "appointment"), "service", False),
        (("marketing", "appointment", "service"), "callback", False),
        (("marketing", "appointment", "service"), "service", True),
        (("appointment", "callback", "marketing"), "callback", True),
        # Marketing and appointment are counted whatever a document says (one that leaves
        # them out is refused by validate_policy; this is the second line).
        ((), "marketing", True),
        (("callback",), "appointment", True),
        (("service",), "service", True),
    ],
)
def test_the_purposes_whose_attempts_are_capped(frequency_purposes, purpose, counted):
    policy = DEFAULT_POLICY if frequency_purposes is None else _counting(*frequency_purposes)
    snap = snapshot(policy=policy)
    assert fact_query(context(request(purpose), snap)).counts_attempts is counted
    codes = {r.code for r in verdict(request(purpose), snap, facts=BUSY).reasons}
    assert (codes == CAPPED) is counted
    assert codes <= CAPPED


_PURPOSE_TEXT = st.sampled_from([*ALL_PURPOSES, "Marketing", "sales", ""])


@given(
    frequency_purposes=st.lists(_PURPOSE_TEXT, max_size=6),
    per_day=st.none() | st.integers(-1, 1001),
    per_7_days=st.none() | st.integers(-1, 1001),
    min_gap_minutes=st.integers(-1, 10081),
    purpose=st.sampled_from(["marketing", "appointment"]),
)
@example(
    frequency_purposes=["callback", "service"],
    per_day=2,
    per_7_days=5,
    min_gap_minutes=0,
    purpose="marketing",
)
def test_no_policy_the_admin_can_save_lets_a_sales_call_escape_the_caps(
    frequency_purposes, per_day, per_7_days, min_gap_minutes, purpose
):
    """What `PUT /v1/policy` accepts (the document decodes and validate_policy finds no
    problem) always counts and caps marketing and appointment attempts."""
    document = {
        "hours": msgspec.to_builtins(DEFAULT_POLICY.hours),
        "frequency": {
            "per_day": per_day,
            "per_7_days": per_7_days,
            "min_gap_minutes": min_gap_minutes,
        },
        "frequency_purposes": frequency_purposes,
    }
    try:
        doc = msgspec.convert(document, PolicyDocument)
    except msgspec.ValidationError:
        return  # refused: 400
    if validate_policy(doc):
        return  # refused: 400
    assert {"marketing", "appointment"} <= set(doc.frequency_purposes)
    query = fact_query(context(request(purpose), Snapshot(version=1, policy=doc)))
    assert query.counts_attempts
    # At every cap the policy sets, the call is denied.
    at_cap = Facts(
        attempts_today=per_day or 0,
        attempts_7_days=per_7_days or 0,
        last_attempt_ms=NOW_MS if min_gap_minutes else None,
    )
    capped = per_day is not None or per_7_days is not None or min_gap_minutes > 0
    assert bool(frequency_reasons(query, at_cap)) is capped


@pytest.mark.parametrize(
    ("facts", "capped"),
    [
        (Facts(), False),
        (Facts(attempts_today=1, attempts_7_days=4), False),
        (Facts(attempts_today=2), True),  # per_day 2
        (Facts(attempts_7_days=5), True),  # per_7_days 5
        (Facts(last_attempt_ms=NOW_MS - 240 * MINUTE_MS), False),  # exactly the gap
        (Facts(last_attempt_ms=NOW_MS - 239 * MINUTE_MS), True),
        (Facts(last_attempt_ms=NOW_MS + MINUTE_MS), True),  # a clock ahead: fail closed
    ],
)
@pytest.mark.parametrize("purpose", ["marketing", "appointment"])
def test_attempt_caps_at_their_limits(purpose, facts, capped):
    query = fact_query(context(request(purpose)))
    assert (frequency_reasons(query, facts) != ()) is capped


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_no_caps_no_gap_never_caps(purpose):
    free = PolicyDocument(
        hours=DEFAULT_POLICY.hours,
        frequency=FrequencyPolicy(per_day=None, per_7_days=None, min_gap_minutes=0),
    )
    query = fact_query(context(request(purpose), snapshot(policy=free)))
    busy = Facts(attempts_today=100, attempts_7_days=100, last_attempt_ms=NOW_MS)
    assert frequency_reasons(query, busy) == ()


def test_cap_message_names_every_cap_reached_and_masks_the_callee():
    query = fact_query(context(request()))
    facts = Facts(attempts_today=2, attempts_7_days=5, last_attempt_ms=NOW_MS - 35 * MINUTE_MS)
    [reason] = frequency_reasons(query, facts)
    assert reason.message == (
        "attempt cap reached for callee 138****5678: 2 attempts today (cap 2 a day); "
        "5 attempts in the last 7 days (cap 5); last attempt 35 min ago (minimum gap 240 min)"
    )


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


@pytest.mark.parametrize(
    ("now", "day_start", "week_start"),
    [
        ("2026-11-23T10:00:00+08:00", "2026-11-23T00:00:00+08:00", "2026-11-17T00:00:00+08:00"),
        # 23:30 UTC on the 22nd is already the 23rd in Beijing
        ("2026-11-22T23:30:00+00:00", "2026-11-23T00:00:00+08:00", "2026-11-17T00:00:00+08:00"),
        ("2026-03-01T00:00:00+08:00", "2026-03-01T00:00:00+08:00", "2026-02-23T00:00:00+08:00"),
    ],
)
def test_fact_query_counts_local_calendar_days(now, day_start, week_start):
    query = fact_query(context(request(), at=datetime.fromisoformat(now)))
    assert query.day_start_ms == _ms(day_start)
    assert query.week_start_ms == _ms(week_start)
    assert query.now_ms == _ms(now)


def test_fact_query_carries_the_policy_caps():
    query = fact_query(context(request()))
    assert (query.e164, query.per_day, query.per_7_days, query.min_gap_ms) == (
        "+8613812345678",
        2,
        5,
        240 * MINUTE_MS,
    )


def test_now_ms_keeps_milliseconds():
    at = datetime.fromisoformat("2026-11-23T10:00:00.123999+08:00")
    assert fact_query(context(request(), at=at)).now_ms == _ms("2026-11-23T10:00:00+08:00") + 123


def test_no_minimum_gap_ignores_an_attempt_stamped_a_moment_ahead() -> None:
    from gateway.policy import FactQuery, Facts, frequency_reasons

    q = FactQuery(
        e164="+8613812345678",
        dnc_blocking_scopes=("all", "marketing"),
        counts_attempts=True,
        day_start_ms=0,
        week_start_ms=0,
        now_ms=1_000_000,
        per_day=None,
        per_7_days=None,
        min_gap_ms=0,
    )
    assert frequency_reasons(q, Facts(last_attempt_ms=1_000_050)) == ()


_ZONES = [ZoneInfo("Asia/Shanghai"), ZoneInfo("Asia/Urumqi"), ZoneInfo("America/New_York")]


@given(
    days=st.lists(
        st.tuples(st.dates(date(2000, 1, 1), date(2100, 12, 31)), st.sampled_from(_ZONES)),
        min_size=1,
        max_size=200,
    )
)
def test_remembered_day_starts_are_the_local_midnights(days):
    # More distinct days than the memo keeps, in any order and repeated: every answer is
    # the one computed afresh (a zone with summer time included).
    for today, tz in days + days[::-1]:
        day_ms, week_ms = day_starts_ms(today, tz)
        assert day_ms == _ms(datetime.combine(today, time(), tzinfo=tz).isoformat())
        week = datetime.combine(today - timedelta(days=6), time(), tzinfo=tz)
        assert week_ms == _ms(week.isoformat())
