"""Batch scrub: number, staff, DNC, and for marketing the campaign's lists."""

from __future__ import annotations

import pytest

from gateway.policy import Facts, parse_callee, scrub

from .world import ALL_PURPOSES, CAMPAIGN_FOR, OTHER_CALLEE, snapshot


def _scrub(raw, purpose="marketing", facts=None, campaign_id=None):
    return scrub(
        raw,
        parse_callee(raw),
        purpose,
        campaign_id or CAMPAIGN_FOR[purpose],
        snapshot(),
        facts or Facts(),
    )


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_a_listed_customer_number_is_callable(purpose):
    result = _scrub("+86 138 1234 5678", purpose)
    assert (result.callable, result.callee_e164, result.reasons) == (True, "+8613812345678", ())


@pytest.mark.parametrize(
    ("purpose", "callable_"),
    [("marketing", False), ("appointment", True), ("callback", True), ("service", True)],
)
def test_only_marketing_scrubs_against_the_campaign_lists(purpose, callable_):
    assert _scrub(OTHER_CALLEE, purpose).callable is callable_


@pytest.mark.parametrize(
    ("scope", "purpose", "callable_"),
    [
        ("marketing", "marketing", False),
        ("marketing", "callback", True),
        ("all", "service", False),
    ],
)
def test_scrub_applies_the_dnc_scope_table(scope, purpose, callable_):
    assert _scrub("13812345678", purpose, Facts(dnc_scope=scope)).callable is callable_


def test_scrub_reports_invalid_and_staff_numbers():
    assert [r.code for r in _scrub("95519").reasons] == ["invalid_number"]
    assert _scrub("95519").callee_e164 is None
    assert [r.code for r in _scrub("13700000000", "service").reasons] == ["staff_number"]


def test_degraded_scrub_is_not_callable():
    result = _scrub("13812345678", facts=Facts(degraded="DNC cache incomplete"))
    assert [r.code for r in result.reasons] == ["gateway_degraded"]
