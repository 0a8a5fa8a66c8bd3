"""Rule `agent`: authorised agents, no cold calls, no return visit by the seller."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from gateway.policy import NumberSet, build_context, static_reasons

from .world import (
    AGENT_ID,
    ALL_PURPOSES,
    NOW,
    OTHER_CALLEE,
    SELLER_ID,
    agent,
    request,
    rule_codes,
    rule_reasons,
    snapshot,
)

NOT_AUTHORIZED = {"agent_not_authorized"}


def _with_agent(**changes):
    return snapshot(agents={AGENT_ID: agent(**changes), SELLER_ID: agent(agent_id=SELLER_ID)})


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_unknown_agent_is_not_authorized_for_any_purpose(purpose):
    assert rule_codes("agent", request(purpose, agent_id="A9999")) == NOT_AUTHORIZED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_inactive_agent_is_not_authorized_for_any_purpose(purpose):
    assert rule_codes("agent", request(purpose), _with_agent(active=False)) == NOT_AUTHORIZED


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize("field", ["licence_valid_until", "training_valid_until"])
@pytest.mark.parametrize(
    ("valid_until", "expected"),
    [
        (date(2026, 11, 23), set()),  # valid through the day of the call
        (date(2026, 11, 22), NOT_AUTHORIZED),
    ],
)
def test_expired_licence_or_training_is_not_authorized(purpose, field, valid_until, expected):
    snap = _with_agent(**{field: valid_until})
    assert rule_codes("agent", request(purpose), snap) == expected


def test_validity_is_judged_on_the_callees_local_date():
    snap = _with_agent(training_valid_until=date(2026, 11, 23))
    late_utc = datetime.fromisoformat("2026-11-23T16:30:00+00:00")  # 00:30 on the 24th
    assert rule_codes("agent", request(), snap, late_utc) == NOT_AUTHORIZED


def test_expiry_message_names_agent_and_date():
    [reason] = rule_reasons(
        "agent", request(), _with_agent(training_valid_until=date(2026, 10, 31))
    )
    assert reason.message == "agent A1001 training expired 2026-10-31"


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_agent_is_not_authorized_for_a_purpose_not_granted(purpose):
    others = frozenset(p for p in ALL_PURPOSES if p != purpose)
    assert rule_codes("agent", request(purpose), _with_agent(purposes=others)) == NOT_AUTHORIZED


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [
        ("marketing", set()),
        ("appointment", {"cold_call_forbidden"}),
        ("callback", set()),
        ("service", set()),
    ],
)
def test_appointment_to_a_number_off_the_agents_register_is_a_cold_call(purpose, expected):
    assert rule_codes("agent", request(purpose, callee=OTHER_CALLEE)) == expected


def test_appointment_to_own_customer_passes():
    assert rule_codes("agent", request("appointment")) == set()


def test_cold_call_is_judged_against_an_empty_register_too():
    snap = _with_agent(customers=NumberSet())
    assert rule_codes("agent", request("appointment"), snap) == {"cold_call_forbidden"}


@pytest.mark.parametrize(
    ("purpose", "expected"),
    [
        ("marketing", set()),
        ("appointment", set()),
        ("callback", {"callback_by_seller"}),
        ("service", set()),
    ],
)
def test_return_visit_by_the_seller_is_refused(purpose, expected):
    assert rule_codes("agent", request(purpose, sold_by_agent_id=AGENT_ID)) == expected


def test_callback_by_another_agent_or_with_seller_unknown_passes():
    assert rule_codes("agent", request("callback", sold_by_agent_id=SELLER_ID)) == set()
    assert rule_codes("agent", request("callback", sold_by_agent_id=None)) == set()


def _with_sellers(req, sellers):
    ctx = build_context(req, NOW, snapshot(), policy_sellers=frozenset(sellers))
    return {r.code for r in static_reasons(ctx) if r.rule == "agent"}


@pytest.mark.parametrize(
    ("purpose", "sellers", "sold_by", "expected"),
    [
        # The policy the check names was sold by this agent: refused without sold_by_agent_id.
        ("callback", {AGENT_ID}, None, {"callback_by_seller"}),
        ("callback", {SELLER_ID, AGENT_ID}, None, {"callback_by_seller"}),
        ("callback", {AGENT_ID}, SELLER_ID, {"callback_by_seller"}),  # either names the seller
        ("callback", {SELLER_ID}, AGENT_ID, {"callback_by_seller"}),
        ("callback", {SELLER_ID}, None, set()),
        ("callback", set(), None, set()),
        ("service", {AGENT_ID}, None, set()),
    ],
)
def test_return_visit_by_a_seller_of_the_named_policy_is_refused(
    purpose, sellers, sold_by, expected
):
    req = request(purpose, sold_by_agent_id=sold_by, policy_no="P-1")
    assert _with_sellers(req, sellers) == expected


def test_one_rule_gives_every_agent_reason_that_applies():
    snap = _with_agent(active=False, customers=NumberSet())
    assert rule_codes("agent", request("appointment"), snap) == {
        "agent_not_authorized",
        "cold_call_forbidden",
    }
    assert rule_codes("agent", request("callback", sold_by_agent_id=AGENT_ID), snap) == {
        "agent_not_authorized",
        "callback_by_seller",
    }


def test_cold_call_reason_masks_the_callee():
    [reason] = rule_reasons("agent", request("appointment", callee=OTHER_CALLEE))
    assert "139****5678" in reason.message and OTHER_CALLEE not in reason.message


# --- individual agents (营销员) make no marketing calls -----------------------------------


@pytest.mark.parametrize(
    ("kind", "purpose", "callee", "expected"),
    [
        ("telesales", "marketing", None, set()),
        ("individual_agent", "marketing", None, {"cold_call_forbidden"}),
        # Even to its own customer: a sales call by an individual agent is a cold call.
        ("individual_agent", "marketing", "own", {"cold_call_forbidden"}),
        ("individual_agent", "marketing", OTHER_CALLEE, {"cold_call_forbidden"}),
        ("individual_agent", "marketing", "95519", {"cold_call_forbidden"}),  # invalid callee
        ("individual_agent", "appointment", None, set()),
        ("individual_agent", "appointment", OTHER_CALLEE, {"cold_call_forbidden"}),
        ("telesales", "appointment", OTHER_CALLEE, {"cold_call_forbidden"}),
        ("individual_agent", "callback", OTHER_CALLEE, set()),
        ("individual_agent", "service", OTHER_CALLEE, set()),
    ],
)
def test_an_individual_agent_may_make_no_marketing_call(kind, purpose, callee, expected):
    changes = {} if callee in (None, "own") else {"callee": callee}
    snap = _with_agent(kind=kind)
    assert rule_codes("agent", request(purpose, **changes), snap) == expected


def test_an_individual_agents_marketing_call_gives_one_reason_naming_the_agent():
    snap = _with_agent(kind="individual_agent", active=False)
    reasons = rule_reasons("agent", request("marketing"), snap)
    assert [r.code for r in reasons] == ["agent_not_authorized", "cold_call_forbidden"]
    assert reasons[1].message == (
        "agent A1001 is an individual agent: no marketing calls, only appointment calls "
        "to own customers and referrals"
    )


def test_agents_are_call_centre_staff_unless_registered_otherwise():
    assert agent().kind == "telesales"
