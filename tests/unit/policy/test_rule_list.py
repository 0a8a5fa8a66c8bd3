"""Rule `list`: marketing calls only to numbers on one of the campaign's approved lists."""

from __future__ import annotations

import pytest

from gateway.policy import NumberSet

from .world import LIST_ID, OTHER_CALLEE, campaign, request, rule_codes, rule_reasons, snapshot

DENIED = {"not_in_approved_list"}


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [("marketing", DENIED), ("appointment", set()), ("callback", set()), ("service", set())],
)
def test_marketing_call_to_a_number_off_the_list_is_refused(purpose, expected):
    snap = snapshot(lists={LIST_ID: NumberSet.of(["+8613900000000"])})
    assert rule_codes("list", request(purpose, list_id=LIST_ID), snap) == expected


def test_list_must_be_one_of_the_campaigns_lists():
    snap = snapshot(
        lists={
            LIST_ID: NumberSet.of(["+8613812345678"]),
            "bought-list": NumberSet.of(["+8613812345678"]),
        }
    )
    [reason] = rule_reasons("list", request(list_id="bought-list"), snap)
    assert reason.message == "list bought-list is not one of campaign term-life-q4's lists"


@pytest.mark.parametrize(
    ("changes", "snap_changes", "why"),
    [
        ({"list_id": None}, {}, "a marketing call needs a list"),
        ({}, {"lists": {}}, "list leads-2026-11 is not loaded"),
        ({"campaign_id": "nope"}, {}, "campaign nope is not registered"),
        ({"campaign_id": None}, {}, "no campaign given"),
        ({"callee": OTHER_CALLEE}, {}, "does not hold callee 139****5678"),
    ],
)
def test_list_reasons_say_why(changes, snap_changes, why):
    [reason] = rule_reasons("list", request(**changes), snapshot(**snap_changes))
    assert reason.code == "not_in_approved_list"
    assert why in reason.message


def test_a_list_the_campaign_lost_is_no_longer_approved():
    other = campaign("marketing", list_ids=frozenset({"leads-2026-12"}))
    snap = snapshot(campaigns={other.campaign_id: other})
    assert rule_codes("list", request(), snap) == DENIED
