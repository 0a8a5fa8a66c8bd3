"""An allow covers a dial for `allow_valid_seconds` at most, and never past the end of the
calling window the check fell in."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import DayWindows, PolicyDocument, Window, valid_until
from gateway.policy.rules.hours import window_end

from .world import CST, context, request, rule_codes, snapshot

MINUTE = timedelta(minutes=1)


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


@pytest.mark.parametrize(
    ("moment", "seconds", "expected"),
    [
        ("2026-11-23T10:00:00+08:00", 60, "2026-11-23T10:01:00+08:00"),
        ("2026-11-23T10:00:00.700+08:00", 60, "2026-11-23T10:01:00+08:00"),  # truncated
        ("2026-11-23T19:59:30+08:00", 60, "2026-11-23T20:00:00+08:00"),  # window ends
        ("2026-11-23T19:55:00+08:00", 300, "2026-11-23T20:00:00+08:00"),
        ("2026-11-23T19:54:59+08:00", 300, "2026-11-23T19:59:59+08:00"),
        ("2026-11-21T17:59:59+08:00", 60, "2026-11-21T18:00:00+08:00"),  # rest day to 18:00
        ("2026-11-23T04:00:00+00:00", 60, "2026-11-23T12:01:00+08:00"),  # in the callee's zone
    ],
)
def test_valid_until_is_the_earlier_of_the_setting_and_the_window_end(moment, seconds, expected):
    until = valid_until(context(request(), at=at(moment)), timedelta(seconds=seconds))
    assert until == at(expected)
    assert until.utcoffset() == timedelta(hours=8)


def test_split_windows_end_at_the_end_of_the_one_the_check_fell_in():
    policy = PolicyDocument(
        hours=DayWindows(
            workday=(Window("09:00", "12:00"), Window("14:00", "20:00")),
            restday=(),
            holiday=(),
        )
    )
    snap = snapshot(policy=policy)
    ctx = context(request(), snap, at("2026-11-23T11:59:10+08:00"))
    assert valid_until(ctx, timedelta(seconds=300)) == at("2026-11-23T12:00:00+08:00")


def test_a_window_to_the_end_of_the_day_ends_at_its_last_minute():
    policy = PolicyDocument(
        hours=DayWindows(workday=(Window("00:00", "23:59"),), restday=(), holiday=())
    )
    ctx = context(request("service"), snapshot(policy=policy), at("2026-11-23T23:58:30+08:00"))
    assert window_end(ctx) == at("2026-11-23T23:59:00+08:00")
    assert valid_until(ctx, timedelta(seconds=120)) == at("2026-11-23T23:59:00+08:00")


def test_outside_every_window_the_setting_alone_bounds_it():
    ctx = context(request(), at=at("2026-11-23T21:30:00+08:00"))
    assert window_end(ctx) is None
    assert valid_until(ctx, timedelta(seconds=60)) == at("2026-11-23T21:31:00+08:00")


# Any instant of 2026 (a covered year), in any offset the dialer might send.
instants = st.datetimes(
    min_value=datetime(2026, 1, 1, 1), max_value=datetime(2026, 12, 30, 23)
).map(lambda d: d.replace(tzinfo=CST))


@settings(max_examples=500, deadline=None)
@given(instants, st.integers(min_value=1, max_value=300), st.sampled_from(["marketing", "service"]))
def test_no_dial_an_allow_covers_falls_outside_the_calling_window(now, seconds, purpose):
    ctx = context(request(purpose), at=now)
    until = valid_until(ctx, timedelta(seconds=seconds))
    assert until <= now + timedelta(seconds=seconds)
    end = window_end(ctx)
    if end is None:
        return  # the check is denied by the hours rule: nothing is covered
    assert rule_codes("hours", request(purpose), at=now) == set()
    assert now < until <= end
    # The last instant the allow covers is still inside the window.
    last = until - timedelta(microseconds=1)
    assert rule_codes("hours", request(purpose), at=last) == set()
