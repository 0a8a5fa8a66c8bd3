"""Rule `script`: filed, assigned to the campaign, with the disclosure step for marketing."""

from __future__ import annotations

import pytest

from .world import SCRIPT_ID, campaign, request, rule_codes, rule_reasons, script, snapshot

DENIED = {"script_not_approved"}


def _with_script(**changes):
    return snapshot(scripts={(SCRIPT_ID, 3): script(**changes)})


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [("marketing", DENIED), ("appointment", DENIED), ("callback", set()), ("service", set())],
)
def test_selling_purposes_need_a_script(purpose, expected):
    req = request(purpose, script_id=None, script_version=None)
    assert rule_codes("script", req) == expected


@pytest.mark.parametrize("purpose", ["marketing", "appointment", "callback", "service"])
@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"status": "draft"}, "is a draft, not filed"),
        ({"status": "approved"}, "is approved but not filed"),
        ({"status": "retired"}, "is retired"),
        ({"filing_ref": None}, "is filed without a filing reference"),
        ({"filing_ref": ""}, "is filed without a filing reference"),
    ],
)
def test_only_filed_scripts_may_be_used_by_any_purpose_naming_one(purpose, changes, why):
    [reason] = rule_reasons("script", request(purpose), _with_script(**changes))
    assert reason.code == "script_not_approved"
    assert reason.message == f"script term-life-intro v3 {why}"


@pytest.mark.parametrize("purpose", ["marketing", "appointment", "callback", "service"])
def test_unknown_script_version_is_refused(purpose):
    assert rule_codes("script", request(purpose, script_version=4)) == DENIED
    assert rule_codes("script", request(purpose, script_id="whole-life")) == DENIED


def test_a_script_named_without_a_version_is_refused():
    assert rule_codes("script", request("service", script_version=None)) == DENIED


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [("marketing", DENIED), ("appointment", set()), ("callback", set()), ("service", set())],
)
def test_marketing_scripts_must_disclose_the_sellers_identity(purpose, expected):
    assert (
        rule_codes("script", request(purpose), _with_script(discloses_identity=False)) == expected
    )


@pytest.mark.parametrize("purpose", ["marketing", "appointment", "callback", "service"])
def test_script_must_be_among_the_campaigns_scripts(purpose):
    other = campaign(purpose, script_ids=frozenset({"whole-life-intro"}))
    snap = snapshot(campaigns={other.campaign_id: other})
    [reason] = rule_reasons("script", request(purpose), snap)
    assert "is not among campaign" in reason.message


def test_any_filed_version_of_a_campaign_script_may_be_used():
    snap = snapshot(scripts={(SCRIPT_ID, 3): script(), (SCRIPT_ID, 4): script(version=4)})
    assert rule_codes("script", request(script_version=4), snap) == set()


def test_callback_without_script_is_not_judged_on_scripts():
    assert (
        rule_codes(
            "script",
            request("callback", script_id=None, script_version=None),
            _with_script(status="draft"),
        )
        == set()
    )
