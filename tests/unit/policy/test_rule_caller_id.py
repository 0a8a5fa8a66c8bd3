"""Rule `caller_id`: registered, active, for the purpose, the province and the campaign."""

from __future__ import annotations

import pytest

from .world import (
    ALL_PURPOSES,
    BEIJING_LANDLINE,
    CALLER_KEY,
    UNKNOWN_PROVINCE_MOBILE,
    caller_id,
    campaign,
    request,
    rule_codes,
    rule_reasons,
    snapshot,
)

DENIED = {"caller_id_not_registered"}


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize("written", ["4008001234", "400-800-1234", "+86 400 800 1234"])
def test_registered_caller_id_passes_in_any_written_form(purpose, written):
    assert rule_codes("caller_id", request(purpose, caller_id=written)) == set()


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_unregistered_caller_id_is_refused_for_every_purpose(purpose):
    assert rule_codes("caller_id", request(purpose, caller_id="4008009999")) == DENIED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_inactive_caller_id_is_refused_for_every_purpose(purpose):
    snap = snapshot(caller_ids={CALLER_KEY: caller_id(active=False)})
    assert rule_codes("caller_id", request(purpose), snap) == DENIED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_caller_id_is_refused_for_a_purpose_it_is_not_registered_for(purpose):
    others = frozenset(p for p in ALL_PURPOSES if p != purpose)
    snap = snapshot(caller_ids={CALLER_KEY: caller_id(purposes=others)})
    assert rule_codes("caller_id", request(purpose), snap) == DENIED
    [reason] = rule_reasons("caller_id", request(purpose), snap)
    assert f"not allowed for {purpose} calls" in reason.message


@pytest.mark.parametrize(
    ("provinces", "callee", "expected"),
    [
        (None, "13812345678", set()),
        (None, UNKNOWN_PROVINCE_MOBILE, set()),
        (frozenset({"江苏省"}), "13812345678", set()),
        (frozenset({"北京市"}), "13812345678", DENIED),
        (frozenset({"北京市"}), BEIJING_LANDLINE, set()),
        (frozenset({"北京市", "江苏省"}), UNKNOWN_PROVINCE_MOBILE, DENIED),
    ],
)
@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_province_restricted_caller_id_only_calls_its_provinces(
    purpose, provinces, callee, expected
):
    snap = snapshot(caller_ids={CALLER_KEY: caller_id(provinces=provinces)})
    assert rule_codes("caller_id", request(purpose, callee=callee), snap) == expected


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_caller_id_must_be_among_the_campaigns_caller_ids(purpose):
    other = campaign(purpose, caller_ids=frozenset({"+868008001234"}))
    snap = snapshot(campaigns={other.campaign_id: other})
    assert rule_codes("caller_id", request(purpose), snap) == DENIED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_a_campaign_without_caller_ids_takes_any_registered_one(purpose):
    open_campaign = campaign(purpose, caller_ids=frozenset())
    snap = snapshot(campaigns={open_campaign.campaign_id: open_campaign})
    assert rule_codes("caller_id", request(purpose), snap) == set()


def test_one_reason_lists_every_caller_id_problem():
    snap = snapshot(
        caller_ids={
            CALLER_KEY: caller_id(
                active=False, purposes=frozenset({"service"}), provinces=frozenset({"北京市"})
            )
        }
    )
    [reason] = rule_reasons("caller_id", request("marketing"), snap)
    assert reason.message == (
        "caller id +864008001234 is not active; is not allowed for marketing calls; "
        "is not allowed for callees in 江苏省"
    )


def test_short_code_caller_ids_register_by_their_digits():
    snap = snapshot(caller_ids={"95519": caller_id(number="95519")}, campaigns={})
    assert (
        rule_codes("caller_id", request("service", caller_id="955-19", campaign_id=None), snap)
        == set()
    )
