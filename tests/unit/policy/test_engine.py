"""Running every rule and combining the reasons."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

import gateway.policy
from gateway.policy import (
    REASON_CODES,
    Facts,
    NumberSet,
    Verdict,
    build_context,
    judge,
    static_reasons,
)

from .world import (
    ALL_PURPOSES,
    CALLER_KEY,
    CAMPAIGN_FOR,
    NOW,
    caller_id,
    campaign,
    context,
    request,
    snapshot,
    verdict,
)

API_REASON_TABLE = {
    "invalid_number": "number",
    "staff_number": "number",
    "dnc_listed": "dnc",
    "outside_calling_hours": "hours",
    "holiday_blocked": "hours",
    "calendar_unavailable": "hours",
    "caller_id_not_registered": "caller_id",
    "script_not_approved": "script",
    "agent_not_authorized": "agent",
    "cold_call_forbidden": "agent",
    "callback_by_seller": "agent",
    "campaign_not_active": "campaign",
    "product_not_allowed": "campaign",
    "not_in_approved_list": "list",
    "frequency_exceeded": "frequency",
    "gateway_degraded": "system",
}


def test_reason_codes_are_exactly_the_api_table():
    assert dict(REASON_CODES) == API_REASON_TABLE


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_baseline_call_is_allowed_for_every_purpose(purpose):
    assert verdict(request(purpose)) == Verdict("allow", ())


def test_every_failing_rule_gives_its_reason():
    snap = snapshot(
        caller_ids={CALLER_KEY: caller_id(active=False)},
        lists={"leads-2026-11": NumberSet()},
        staff_numbers=frozenset({"+8613812345678"}),
    )
    req = request("marketing", agent_id="A9999", script_version=9, campaign_id="nope")
    late = datetime.fromisoformat("2026-11-23T21:30:00+08:00")
    facts = Facts(dnc_scope="all", attempts_today=2)
    result = verdict(req, snap, late, facts)
    assert result.decision == "deny"
    assert [r.code for r in result.reasons] == [
        "staff_number",
        "outside_calling_hours",
        "caller_id_not_registered",
        "script_not_approved",
        "agent_not_authorized",
        "campaign_not_active",
        "not_in_approved_list",
        "dnc_listed",
        "frequency_exceeded",
    ]
    assert all(REASON_CODES[r.code] == r.rule for r in result.reasons)
    assert not any("13812345678" in r.message for r in result.reasons)


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_degraded_facts_deny_with_gateway_degraded_and_judge_no_fact_rule(purpose):
    facts = Facts(degraded="Redis is unreachable", dnc_scope="all", attempts_today=99)
    result = verdict(request(purpose), facts=facts)
    assert result.decision == "deny"
    assert [(r.code, r.rule, r.message) for r in result.reasons] == [
        ("gateway_degraded", "system", "Redis is unreachable")
    ]


def test_degraded_keeps_the_static_reasons():
    result = verdict(request(callee="95519"), facts=Facts(degraded="DNC cache incomplete"))
    assert [r.code for r in result.reasons] == ["invalid_number", "gateway_degraded"]


def test_judge_adds_to_the_static_reasons_it_is_given():
    ctx = context(request())
    static = static_reasons(ctx)
    assert static == ()
    assert judge(ctx, static, Facts()).decision == "allow"
    assert [r.code for r in judge(ctx, static, Facts(dnc_scope="marketing")).reasons] == [
        "dnc_listed"
    ]


def test_reasons_are_empty_exactly_when_allowed():
    for facts in (Facts(), Facts(dnc_scope="all"), Facts(degraded="x")):
        result = verdict(request(), facts=facts)
        assert (result.decision == "allow") == (result.reasons == ())


def test_context_puts_now_in_the_callees_zone():
    ctx = context(request(), at=datetime.fromisoformat("2026-11-23T02:00:00+00:00"))
    assert ctx.local_now.isoformat() == "2026-11-23T10:00:00+08:00"
    assert ctx.callee is not None and ctx.callee.e164 == "+8613812345678"
    invalid = context(request(callee="95519"))
    assert invalid.callee is None and str(invalid.local_now.tzinfo) == "Asia/Shanghai"


def test_context_needs_an_aware_now():
    with pytest.raises(ValueError, match="aware"):
        build_context(request(), NOW.replace(tzinfo=None), snapshot())


_ALLOWED_IMPORTS = {"msgspec", "phonenumbers", "chinese_calendar", "zoneinfo", "gateway"}
_STDLIB = {
    "__future__",
    "array",
    "bisect",
    "collections",
    "dataclasses",
    "datetime",
    "functools",
    "re",
    "types",
    "typing",
    "unicodedata",
}


def test_policy_package_imports_only_pure_libraries():
    root = Path(gateway.policy.__file__).parent
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in _ALLOWED_IMPORTS | _STDLIB, f"{path.name} imports {name}"
                if top == "gateway":
                    assert name.startswith("gateway.policy"), f"{path.name} imports {name}"


# --- every rule, for every purpose, under every DNC scope --------------------------------

HOLIDAY = datetime.fromisoformat("2026-10-01T11:00:00+08:00")
LATE = datetime.fromisoformat("2026-11-23T21:30:00+08:00")
SELLING = {"marketing", "appointment"}

# name -> (request changes, snapshot changes, moment, attempts today, codes by purpose)
SCENARIOS = {
    "nothing wrong": ({}, {}, NOW, 0, {}),
    "invalid number": (
        {"callee": "95519"},
        {},
        NOW,
        0,
        dict.fromkeys(ALL_PURPOSES, "invalid_number"),
    ),
    "staff number": (
        {},
        {"staff_numbers": frozenset({"+8613812345678"})},
        NOW,
        0,
        dict.fromkeys(ALL_PURPOSES, "staff_number"),
    ),
    "late evening": ({}, {}, LATE, 0, dict.fromkeys(ALL_PURPOSES, "outside_calling_hours")),
    "national day": ({}, {}, HOLIDAY, 0, dict.fromkeys(ALL_PURPOSES, "holiday_blocked")),
    "unregistered caller id": (
        {"caller_id": "4008009999"},
        {},
        NOW,
        0,
        dict.fromkeys(ALL_PURPOSES, "caller_id_not_registered"),
    ),
    "unknown script version": (
        {"script_version": 2},
        {},
        NOW,
        0,
        dict.fromkeys(ALL_PURPOSES, "script_not_approved"),
    ),
    "unknown agent": (
        {"agent_id": "A9999"},
        {},
        NOW,
        0,
        dict.fromkeys(ALL_PURPOSES, "agent_not_authorized"),
    ),
    "stranger": (
        {"callee": "13912345678"},
        {},
        NOW,
        0,
        {"marketing": "not_in_approved_list", "appointment": "cold_call_forbidden"},
    ),
    "seller's own return visit": (
        {"sold_by_agent_id": "A1001"},
        {},
        NOW,
        0,
        {"callback": "callback_by_seller"},
    ),
    "unknown campaign": (
        {"campaign_id": "nope"},
        {},
        NOW,
        0,
        {
            "marketing": ("campaign_not_active", "not_in_approved_list"),
            "appointment": "campaign_not_active",
            "callback": "campaign_not_active",
            "service": "campaign_not_active",
        },
    ),
    "participating product": (
        {},
        {
            "campaigns": {
                name: campaign(purpose, product_type="participating")
                for purpose, name in CAMPAIGN_FOR.items()
            }
        },
        NOW,
        0,
        dict.fromkeys(SELLING, "product_not_allowed"),
    ),
    # The default policy counts and caps every purpose.
    "two calls today": ({}, {}, NOW, 2, dict.fromkeys(ALL_PURPOSES, "frequency_exceeded")),
}


def _codes(value: str | tuple[str, ...] | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


@pytest.mark.parametrize("scope", [None, "marketing", "all"])
@pytest.mark.parametrize("purpose", ALL_PURPOSES)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_each_rule_combines_with_every_dnc_scope_for_every_purpose(scenario, purpose, scope):
    req_changes, snap_changes, moment, attempts, by_purpose = SCENARIOS[scenario]
    req = request(purpose, **req_changes)
    facts = Facts(dnc_scope=scope, attempts_today=attempts)
    expected = _codes(by_purpose.get(purpose))
    callee_valid = "invalid_number" not in expected
    if callee_valid and (scope == "all" or (scope == "marketing" and purpose in SELLING)):
        expected.add("dnc_listed")
    result = verdict(req, snapshot(**snap_changes), moment, facts)
    assert {r.code for r in result.reasons} == expected
    assert result.decision == ("deny" if expected else "allow")
