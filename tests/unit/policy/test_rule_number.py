"""Rule `number`: invalid_number and staff_number, for every purpose."""

from __future__ import annotations

import pytest

from gateway.policy import NumberSet

from .world import ALL_PURPOSES, request, rule_codes, rule_reasons, snapshot


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize(
    "callee", ["95519", "4008001234", "1380013800", "12345678", "+85291234567"]
)
def test_uncallable_callee_is_invalid_number_for_every_purpose(purpose, callee):
    assert rule_codes("number", request(purpose, callee=callee)) == {"invalid_number"}


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_staff_number_is_refused_for_every_purpose(purpose):
    snap = snapshot(staff_numbers=frozenset({"+8613812345678"}))
    assert rule_codes("number", request(purpose, callee="+86 138 1234 5678"), snap) == {
        "staff_number"
    }


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_customers_own_number_passes_for_every_purpose(purpose):
    assert rule_codes("number", request(purpose)) == set()


def test_number_messages_never_show_the_callee():
    snap = snapshot(staff_numbers=frozenset({"+8613812345678"}))
    [staff] = rule_reasons("number", request(), snap)
    assert "12345678" not in staff.message and "138****5678" in staff.message
    [invalid] = rule_reasons("number", request(callee="1380013800"))
    assert "1380013800" not in invalid.message


def test_invalid_callee_skips_the_callee_dependent_rules():
    snap = snapshot(lists={"leads-2026-11": NumberSet()})
    reasons = {r.code for r in rule_reasons("list", request(callee="95519"), snap)}
    assert reasons == set()
