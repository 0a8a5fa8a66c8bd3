"""Rule `campaign`: registered, active, within its dates, of this purpose, and selling a
product type telephone sales may offer."""

from __future__ import annotations

from datetime import datetime

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy import DEFAULT_POLICY, PRODUCT_TYPES, validate_policy

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


# --- product types telephone sales may offer --------------------------------------------

NOT_ALLOWED = {"product_not_allowed"}


def _selling(purpose, product_type, allowed=None):
    changed = campaign(purpose, product_type=product_type)
    policy = DEFAULT_POLICY
    if allowed is not None:
        policy = msgspec.structs.replace(DEFAULT_POLICY, telesales_product_types=allowed)
    return snapshot(campaigns={changed.campaign_id: changed}, policy=policy)


@pytest.mark.parametrize(
    ("purpose", "product_type", "allowed", "expected"),
    [
        ("marketing", "ordinary", None, set()),
        ("appointment", "ordinary", None, set()),
        # By default only ordinary products may be sold by telephone.
        ("marketing", "participating", None, NOT_ALLOWED),
        ("marketing", "universal", None, NOT_ALLOWED),
        ("appointment", "unit_linked", None, NOT_ALLOWED),
        # A company that meets the conditions may allow participating products.
        ("marketing", "participating", ("ordinary", "participating"), set()),
        ("appointment", "participating", ("participating", "ordinary"), set()),
        ("marketing", "unit_linked", ("ordinary", "participating"), NOT_ALLOWED),
        # An allowed list need not hold ordinary products.
        ("marketing", "ordinary", ("participating",), NOT_ALLOWED),
        # Return visits and service calls sell nothing.
        ("callback", "unit_linked", None, set()),
        ("service", "participating", None, set()),
    ],
)
def test_a_sales_call_may_sell_only_an_allowed_product_type(
    purpose, product_type, allowed, expected
):
    snap = _selling(purpose, product_type, allowed)
    assert rule_codes("campaign", request(purpose), snap) == expected


def test_a_product_not_allowed_is_its_own_reason_beside_an_inactive_campaign():
    changed = campaign("marketing", product_type="universal", active=False)
    snap = snapshot(campaigns={changed.campaign_id: changed})
    reasons = rule_reasons("campaign", request("marketing"), snap)
    assert [(r.code, r.rule) for r in reasons] == [
        ("campaign_not_active", "campaign"),
        ("product_not_allowed", "campaign"),
    ]
    assert reasons[1].message == (
        "campaign term-life-q4 sells universal products; telephone sales may offer only ordinary"
    )


def test_a_campaign_of_another_purpose_is_still_judged_on_its_product():
    # A marketing call naming a service campaign that sells unit-linked products.
    changed = campaign("service", product_type="unit_linked")
    snap = snapshot(campaigns={changed.campaign_id: changed})
    req = request("marketing", campaign_id=CAMPAIGN_FOR["service"])
    assert rule_codes("campaign", req, snap) == DENIED | NOT_ALLOWED


def test_campaigns_sell_ordinary_products_unless_registered_otherwise():
    assert campaign().product_type == "ordinary"
    assert DEFAULT_POLICY.telesales_product_types == ("ordinary",)


@given(
    product_type=st.sampled_from(PRODUCT_TYPES),
    allowed=st.lists(st.sampled_from(PRODUCT_TYPES), max_size=5).map(tuple),
    purpose=st.sampled_from(ALL_PURPOSES),
)
def test_no_policy_the_admin_can_save_lets_a_sales_call_sell_a_type_it_does_not_list(
    product_type, allowed, purpose
):
    policy = msgspec.structs.replace(DEFAULT_POLICY, telesales_product_types=allowed)
    if validate_policy(policy):
        return  # refused: 400
    snap = _selling(purpose, product_type, allowed)
    denied = "product_not_allowed" in rule_codes("campaign", request(purpose), snap)
    assert denied is (purpose in ("marketing", "appointment") and product_type not in allowed)
