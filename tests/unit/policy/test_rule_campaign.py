"""Rule `campaign`: registered, active, within its dates, of this purpose."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest

from .world import (
    ALL_PURPOSES,
    CAMPAIGN_FOR,
    CST,
    NOW,
    campaign,
    request,
    rule_codes,
    rule_reasons,
    snapshot,
)

DENIED = {"campaign_not_active"}


def _with(purpose, **changes):
    changed = campaign(purpose, **changes)
    return snapshot(campaigns={changed.campaign_id: changed})


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [("marketing", DENIED), ("appointment", DENIED), ("callback", set()), ("service", set())],
)
def test_selling_purposes_need_a_campaign(purpose, expected):
    assert rule_codes("campaign", request(purpose, campaign_id=None)) == expected


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_unknown_campaign_is_not_active(purpose):
    assert rule_codes("campaign", request(purpose, campaign_id="nope")) == DENIED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_inactive_campaign_is_refused(purpose):
    assert rule_codes("campaign", request(purpose), _with(purpose, active=False)) == DENIED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize(
    ("starts_at", "ends_at", "expected"),
    [
        (NOW, None, set()),  # starts_at is inclusive
        (datetime(2026, 11, 23, 10, 1, tzinfo=CST), None, DENIED),
        (None, NOW, DENIED),  # ends_at is exclusive
        (None, datetime(2026, 11, 23, 10, 1, tzinfo=CST), set()),
        (None, None, set()),
    ],
)
def test_campaign_runs_within_its_dates(purpose, starts_at, ends_at, expected):
    snap = _with(purpose, starts_at=starts_at, ends_at=ends_at)
    assert rule_codes("campaign", request(purpose), snap) == expected


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_campaign_of_another_purpose_is_refused(purpose):
    other = next(p for p in ALL_PURPOSES if p != purpose)
    req = request(purpose, campaign_id=CAMPAIGN_FOR[other])
    assert rule_codes("campaign", req) == DENIED


def test_campaign_message_lists_every_problem():
    changed = msgspec.structs.replace(
        campaign("marketing"),
        active=False,
        purpose="service",
        ends_at=datetime(2026, 11, 1, tzinfo=CST),
    )
    snap = snapshot(campaigns={changed.campaign_id: changed})
    [reason] = rule_reasons("campaign", request("marketing"), snap)
    assert reason.message == (
        "campaign term-life-q4 is not active; ended 2026-11-01T00:00+08:00; "
        "is a service campaign, not marketing"
    )
