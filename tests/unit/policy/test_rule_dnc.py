"""Rule `dnc`: the full purpose x entry-scope table."""

from __future__ import annotations

from datetime import date

import pytest

from gateway.policy import DNC_BLOCKING_SCOPES, Facts, fact_query
from gateway.policy.rules.dnc import (
    REASON_SHOWN,
    ListedSince,
    is_listed,
    since_clause,
    since_clause_zh,
    with_listed_since,
)

from .world import context, request, verdict

# entry scope x purpose -> blocked, as the API contract's DNC scope table says
SCOPE_TABLE = [
    (None, "marketing", False),
    (None, "appointment", False),
    (None, "callback", False),
    (None, "service", False),
    ("marketing", "marketing", True),
    ("marketing", "appointment", True),
    ("marketing", "callback", False),
    ("marketing", "service", False),
    ("all", "marketing", True),
    ("all", "appointment", True),
    ("all", "callback", True),
    ("all", "service", True),
]


@pytest.mark.parametrize(("scope", "purpose", "blocked"), SCOPE_TABLE)
def test_dnc_entry_blocks_the_purposes_its_scope_covers(scope, purpose, blocked):
    result = verdict(request(purpose), facts=Facts(dnc_scope=scope))
    assert ([r.code for r in result.reasons] == ["dnc_listed"]) is blocked
    assert (result.decision == "deny") is blocked


@pytest.mark.parametrize(("scope", "purpose", "blocked"), SCOPE_TABLE)
def test_fact_query_asks_for_the_blocking_scopes(scope, purpose, blocked):
    query = fact_query(context(request(purpose)))
    assert query.dnc_blocking_scopes == DNC_BLOCKING_SCOPES[purpose]
    assert (scope in query.dnc_blocking_scopes) is blocked


def test_refusal_blocks_next_marketing_call():
    refused = Facts(dnc_scope="marketing", dnc_note="since 2026-11-02 (customer refusal)")
    [reason] = verdict(request("marketing"), facts=refused).reasons
    assert (reason.code, reason.rule) == ("dnc_listed", "dnc")
    assert "since 2026-11-02 (customer refusal)" in reason.message
    assert "138****5678" in reason.message and "13812345678" not in reason.message


def test_callback_ignores_marketing_dnc():
    assert verdict(request("callback"), facts=Facts(dnc_scope="marketing")).decision == "allow"


def test_refusal_of_every_call_blocks_the_return_visit():
    assert verdict(request("callback"), facts=Facts(dnc_scope="all")).decision == "deny"


def test_invalid_callee_has_no_dnc_question():
    ctx = context(request(callee="95519"))
    assert fact_query(ctx).e164 is None
    codes = {r.code for r in verdict(request(callee="95519"), facts=Facts(dnc_scope="all")).reasons}
    assert "dnc_listed" not in codes


REFUSED_ON_2_NOV = ListedSince(date(2026, 11, 2), "customer_refusal", "客户明确拒绝")


def test_a_dnc_listed_message_says_since_when_and_why():
    [reason] = verdict(request("marketing"), facts=Facts(dnc_scope="marketing")).reasons
    [explained] = with_listed_since((reason,), REFUSED_ON_2_NOV)
    assert explained.message == (
        "callee 138****5678 is on the do-not-call list, scope marketing, which covers "
        "marketing calls, since 2026-11-02 (customer_refusal: 客户明确拒绝)"
    )
    assert explained.message_zh == (
        "被叫号码 138****5678 在禁止拨打名单中（范围：营销类呼叫），不得拨打营销电话"
        "；自 2026-11-02 起列入（customer_refusal：客户明确拒绝）"
    )
    assert (explained.code, explained.rule, explained.source) == (
        reason.code,
        reason.rule,
        reason.source,
    )


def test_the_chinese_clause_says_the_same():
    assert (
        since_clause_zh(REFUSED_ON_2_NOV)
        == "；自 2026-11-02 起列入（customer_refusal：客户明确拒绝）"
    )


@pytest.mark.parametrize(
    ("reason", "shown"),
    [
        (None, "import:crm-2026-11"),
        ("", "import:crm-2026-11"),
        ("  asked\n by letter ", "import:crm-2026-11: asked by letter"),
        ("x" * REASON_SHOWN, "import:crm-2026-11: " + "x" * REASON_SHOWN),
        ("y" * (REASON_SHOWN + 1), "import:crm-2026-11: " + "y" * (REASON_SHOWN - 1) + "…"),
    ],
)
def test_a_long_or_missing_reason_is_cut_or_left_out(reason, shown):
    listed = ListedSince(date(2026, 1, 5), "import:crm-2026-11", reason)
    assert since_clause(listed) == f", since 2026-01-05 ({shown})"


def test_only_the_dnc_reason_gains_the_clause():
    others = verdict(
        request("marketing", script_version=9), facts=Facts(dnc_scope="marketing")
    ).reasons
    assert is_listed(others) and len(others) > 1
    explained = with_listed_since(others, REFUSED_ON_2_NOV)
    for before, after in zip(others, explained, strict=True):
        assert (after.message == before.message) is (before.code != "dnc_listed")
    assert not is_listed(verdict(request("callback"), facts=Facts(dnc_scope="marketing")).reasons)
