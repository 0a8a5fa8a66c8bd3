"""Rule `hours`: windows per day type in the callee's local time, province hours, holidays."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import DEFAULT_POLICY, DayWindows, PolicyDocument, Window

from .world import (
    ALL_PURPOSES,
    BEIJING_LANDLINE,
    CST,
    NOW,
    request,
    rule_codes,
    rule_reasons,
    snapshot,
)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-11-23T08:59:59+08:00", {"outside_calling_hours"}),  # workday, before 09:00
        ("2026-11-23T09:00:00+08:00", set()),
        ("2026-11-23T19:59:59+08:00", set()),
        ("2026-11-23T20:00:00+08:00", {"outside_calling_hours"}),  # end is exclusive
        ("2026-11-23T21:30:00+08:00", {"outside_calling_hours"}),
        ("2026-11-23T02:00:00+00:00", set()),  # 10:00 in Beijing
        ("2026-11-23T12:30:00+00:00", {"outside_calling_hours"}),  # 20:30 in Beijing
        ("2026-11-21T09:30:00+08:00", {"outside_calling_hours"}),  # rest day opens at 10:00
        ("2026-11-21T10:00:00+08:00", set()),
        ("2026-11-21T18:00:00+08:00", {"outside_calling_hours"}),
        ("2026-10-01T12:00:00+08:00", {"holiday_blocked"}),  # National Day
        ("2026-10-03T12:00:00+08:00", {"holiday_blocked"}),  # a weekend day inside it
        ("2026-10-10T19:00:00+08:00", set()),  # a Saturday worked in lieu: workday hours
        ("2026-10-01T22:00:00+08:00", {"holiday_blocked"}),  # not also outside hours
        ("2027-01-04T12:00:00+08:00", {"calendar_unavailable"}),  # and no other hours reason
        ("2027-01-04T23:00:00+08:00", {"calendar_unavailable"}),
    ],
)
def test_national_hours_by_day_type(moment, expected):
    assert rule_codes("hours", at=at(moment)) == expected


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_hours_apply_to_every_purpose(purpose):
    late = at("2026-11-23T21:30:00+08:00")
    assert rule_codes("hours", request(purpose), at=late) == {"outside_calling_hours"}
    holiday = at("2026-10-01T11:00:00+08:00")
    assert rule_codes("hours", request(purpose), at=holiday) == {"holiday_blocked"}


def test_outside_hours_message_names_time_zone_and_windows():
    [reason] = rule_reasons("hours", at=at("2026-11-23T21:30:00+08:00"))
    assert reason.message.startswith("21:30 Asia/Shanghai is outside 09:00-20:00")


BEIJING_HOURS = DayWindows(workday=(Window("09:00", "19:00"),), restday=(), holiday=())
WITH_BEIJING = PolicyDocument(hours=DEFAULT_POLICY.hours, province_hours={"北京市": BEIJING_HOURS})


@pytest.mark.parametrize(
    ("callee", "moment", "expected"),
    [
        (BEIJING_LANDLINE, "2026-11-23T19:30:00+08:00", {"outside_calling_hours"}),
        (BEIJING_LANDLINE, "2026-11-23T18:30:00+08:00", set()),
        (BEIJING_LANDLINE, "2026-11-21T11:00:00+08:00", {"outside_calling_hours"}),  # no restday
        ("13812345678", "2026-11-23T19:30:00+08:00", set()),  # Jiangsu keeps national hours
        ("17012345678", "2026-11-23T19:30:00+08:00", set()),  # province unknown: national
    ],
)
def test_province_hours_replace_national_hours(callee, moment, expected):
    snap = snapshot(policy=WITH_BEIJING)
    assert rule_codes("hours", request(callee=callee), snap, at(moment)) == expected


def test_province_hours_message_names_the_province():
    snap = snapshot(policy=WITH_BEIJING)
    [reason] = rule_reasons(
        "hours", request(callee=BEIJING_LANDLINE), snap, at("2026-11-21T11:00:00+08:00")
    )
    assert "北京市" in reason.message


def test_a_policy_with_holiday_windows_allows_calls_on_holidays():
    hours = DayWindows(
        workday=DEFAULT_POLICY.hours.workday, restday=(), holiday=(Window("10:00", "12:00"),)
    )
    snap = snapshot(policy=PolicyDocument(hours=hours))
    assert rule_codes("hours", None, snap, at("2026-10-01T11:00:00+08:00")) == set()
    assert rule_codes("hours", None, snap, at("2026-10-01T12:00:00+08:00")) == {
        "outside_calling_hours"
    }


def test_an_operator_holiday_overrides_the_built_in_workday():
    snap = snapshot(holidays={date(2026, 11, 23): "holiday"})
    assert rule_codes("hours", None, snap, NOW) == {"holiday_blocked"}


@pytest.mark.parametrize("moment", ["2027-01-04T12:00:00+08:00", "2027-02-06T12:00:00+08:00"])
def test_holidays_entered_for_an_uncovered_year_do_not_make_it_available(moment):
    snap = snapshot(holidays={date(2027, 2, 6): "holiday"})
    assert rule_codes("hours", None, snap, at(moment)) == {"calendar_unavailable"}
    [reason] = rule_reasons("hours", None, snap, at(moment))
    assert "not declared complete" in reason.message


def test_a_year_declared_complete_is_judged_by_its_entries_and_the_weekday():
    holidays = {date(2027, 2, 6): "holiday", date(2027, 2, 20): "workday"}
    snap = snapshot(holidays=holidays, complete_years=frozenset({2027}))
    assert rule_codes("hours", None, snap, at("2027-01-04T12:00:00+08:00")) == set()
    assert rule_codes("hours", None, snap, at("2027-02-06T12:00:00+08:00")) == {"holiday_blocked"}
    # A Saturday worked in lieu has workday hours; an ordinary one, rest-day hours.
    assert rule_codes("hours", None, snap, at("2027-02-20T09:30:00+08:00")) == set()
    assert rule_codes("hours", None, snap, at("2027-02-27T09:30:00+08:00")) == {
        "outside_calling_hours"
    }
    # Another undeclared year stays unavailable.
    assert rule_codes("hours", None, snap, at("2028-01-04T12:00:00+08:00")) == {
        "calendar_unavailable"
    }


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        ("2026-11-23T01:00:00+00:00", set()),
        ("2026-11-23T00:30:00+00:00", {"outside_calling_hours"}),
    ],
)
def test_invalid_callee_is_judged_in_beijing_with_national_hours(moment, expected):
    snap = snapshot(policy=WITH_BEIJING)
    assert rule_codes("hours", request(callee="95519"), snap, at(moment)) == expected


# --- a window never allows a time outside it, and allows every time inside it ------------


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def windows(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    spans = []
    for _ in range(draw(st.integers(1, 3))):
        start = draw(st.integers(0, 24 * 60 - 2))
        end = draw(st.integers(start + 1, 24 * 60 - 1))
        spans.append((start, end))
    return tuple(spans)


@given(
    spans=windows(),
    moment=st.times(),
    day=st.sampled_from([date(2026, 11, 23), date(2026, 11, 21), date(2026, 10, 2)]),
)
def test_a_window_allows_exactly_the_times_inside_it(spans, moment, day):
    day_windows = tuple(Window(_clock(s), _clock(e)) for s, e in spans)
    hours = DayWindows(workday=day_windows, restday=day_windows, holiday=day_windows)
    snap = snapshot(policy=PolicyDocument(hours=hours))
    when = datetime.combine(day, moment, tzinfo=CST)
    inside = any(time(s // 60, s % 60) <= moment < time(e // 60, e % 60) for s, e in spans)
    assert (rule_codes("hours", None, snap, when) == set()) is inside


@given(
    wall_clock=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31)),
    offset_minutes=st.integers(-12 * 60, 14 * 60),
)
def test_the_callees_local_time_decides_whatever_the_offset_of_now(wall_clock, offset_minutes):
    beijing = wall_clock.replace(tzinfo=CST)
    elsewhere = beijing.astimezone(timezone(timedelta(minutes=offset_minutes)))
    assert rule_codes("hours", at=elsewhere) == rule_codes("hours", at=beijing)
