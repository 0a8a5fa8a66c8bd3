"""Rule `caller_id`: registered, active, for the purpose, the province and the campaign,
and a number that can be a dedicated telemarketing number at all."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.policy.numbers import dedicated_caller_id, normalize_caller_id, parse_callee

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


# --- a mobile or a number that is not valid is never a dedicated number ------------------


def _registered(written: str):
    """A snapshot in which `written` is registered, active and the campaigns' caller id,
    as a row from before registration refused such numbers would be."""
    key = normalize_caller_id(written)
    snap = snapshot(caller_ids={key: caller_id(number=key)})
    campaigns = {
        c.campaign_id: msgspec.structs.replace(c, caller_ids=frozenset({key}))
        for c in snap.campaigns.values()
    }
    return snap.replace(campaigns=campaigns)


@pytest.mark.parametrize(
    ("written", "unfit"),
    [
        ("4008001234", None),
        ("+86 400 800 1234", None),
        ("010-12345678", None),
        ("8008001234", None),
        ("95519", None),
        ("13812345678", "is a mobile number, never a dedicated telemarketing number"),
        ("+8617012345678", "is a mobile number, never a dedicated telemarketing number"),
        ("12345678901", "is not a valid number"),
        ("1234", "is not a valid number"),
        ("+8695519", "is not a valid number"),
        ("+1 415 555 0123", "is not a mainland China (+86) number"),
        ("call us", "is not a telephone number"),
    ],
)
def test_which_numbers_can_be_a_dedicated_telemarketing_number(written, unfit):
    assert dedicated_caller_id(written) == (normalize_caller_id(written), unfit)


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize("written", ["13812345678", "+86 138-1234-5678", "12345678901", "1234"])
def test_a_registered_mobile_or_invalid_caller_id_is_refused(purpose, written):
    snap = _registered(written)
    [reason] = rule_reasons("caller_id", request(purpose, caller_id=written), snap)
    assert reason.code == "caller_id_not_registered"
    assert "not registered" not in reason.message


_MOBILE_PREFIXES = ["130", "138", "139", "147", "150", "166", "170", "177", "186", "199"]


@given(
    prefix=st.sampled_from(_MOBILE_PREFIXES),
    rest=st.from_regex(r"\A[0-9]{8}\Z"),
    form=st.sampled_from(["{n}", "+86{n}", "0086 {n}", "+86 {a} {b} {c}", "{a}-{b}-{c}"]),
    purpose=st.sampled_from(ALL_PURPOSES),
)
def test_no_registered_mobile_is_ever_presented(prefix, rest, form, purpose):
    national = prefix + rest
    if parse_callee(national) is None:
        return  # not a mobile phonenumbers knows
    written = form.format(n=national, a=national[:3], b=national[3:7], c=national[7:])
    snap = _registered(written)
    assert rule_codes("caller_id", request(purpose, caller_id=written), snap) == DENIED
