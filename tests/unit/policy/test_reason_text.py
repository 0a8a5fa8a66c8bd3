"""Every reason speaks Chinese and cites the clause it enforces: one table gives each code
its rule, source and Chinese summary, and every rule writes its message in both languages."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.policy import REASON_CODES, REASONS, Facts, NumberSet, Reason, completed
from gateway.policy.types import ReasonCode

from .world import ALL_PURPOSES, CALLER_KEY, NOW, caller_id, request, snapshot, verdict

API = Path(__file__).resolve().parents[3] / "docs" / "API.md"
HAN = re.compile(r"[\u4e00-\u9fff]")


def api_reason_codes() -> set[str]:
    """The codes of the reason table in docs/API.md: rows `| \\`code\\` | rule | ... |`."""
    text = API.read_text(encoding="utf-8")
    start = text.index("### Reason codes")
    table = text[start : text.index("\n#", start + 1)]
    return set(re.findall(r"^\| `([a-z_]+)` \| [a-z_]+ \|", table, re.M))


def test_one_table_names_exactly_the_reason_codes():
    assert set(REASONS) == set(get_args(ReasonCode)) == set(REASON_CODES)
    assert set(REASONS) == api_reason_codes()


@pytest.mark.parametrize("code", sorted(REASONS))
def test_every_code_has_a_source_and_a_chinese_summary(code):
    info = REASONS[code]
    assert HAN.search(info.summary_zh)
    assert info.source and HAN.search(info.source)
    assert REASON_CODES[code] == info.rule


def test_hours_cite_the_2013_rules_for_the_night_floor():
    # The 21:00 to 09:00 ban on sales calls is from the 2013 telephone-sales rules; 99号
    # only asks companies to set allowed times.
    source = REASONS["outside_calling_hours"].source
    assert "保监发〔2013〕40号" in source and "21:00" in source
    assert "21:00" not in source.split("；")[0]


# Requests and facts that make each rule fail, alone or together.
FAILURES = {
    "staff": {"snap": {"staff_numbers": frozenset({"+8613812345678"})}},
    "invalid": {"req": {"callee": "95519"}},
    "foreign": {"req": {"callee": "+14155550100"}},
    "late": {"at": datetime.fromisoformat("2026-11-23T21:30:00+08:00")},
    "holiday": {"at": datetime.fromisoformat("2026-10-01T11:00:00+08:00")},
    "no_calendar": {"at": datetime.fromisoformat("2031-01-06T11:00:00+08:00")},
    "caller": {"snap": {"caller_ids": {CALLER_KEY: caller_id(active=False)}}},
    "agent": {"req": {"agent_id": "A9999"}},
    "script": {"req": {"script_version": 9}},
    "campaign": {"req": {"campaign_id": "nope"}},
    "list": {"snap": {"lists": {"leads-2026-11": NumberSet()}}},
    "dnc": {"facts": {"dnc_scope": "all"}},
    "caps": {"facts": {"attempts_today": 5, "attempts_7_days": 9, "last_attempt_ms": 0}},
    "degraded": {"facts": {"degraded": "Redis is unreachable"}},
}

# Failures that deny a call of any purpose.
EVERY_PURPOSE = {"invalid", "late", "holiday", "no_calendar", "caller", "agent", "dnc", "degraded"}


def failing(names: list[str], purpose: str) -> list[Reason]:
    req: dict = {}
    snap: dict = {}
    facts: dict = {}
    at = NOW
    for name in names:
        part = FAILURES[name]
        req.update(part.get("req", {}))
        snap.update(part.get("snap", {}))
        facts.update(part.get("facts", {}))
        at = part.get("at", at)
    return list(verdict(request(purpose, **req), snapshot(**snap), at, Facts(**facts)).reasons)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(sorted(FAILURES)), min_size=1, max_size=5, unique=True),
    st.sampled_from(ALL_PURPOSES),
)
def test_every_reason_a_check_gives_speaks_chinese_and_cites_its_source(names, purpose):
    reasons = failing(names, purpose)
    if set(names) & EVERY_PURPOSE:
        assert reasons
    for r in reasons:
        info = REASONS[r.code]
        assert (r.rule, r.source) == (info.rule, info.source)
        assert r.message and HAN.search(r.message_zh), r
        # The callee's number is masked in both languages.
        assert "13812345678" not in r.message + r.message_zh


def test_chinese_messages_name_what_the_english_ones_name():
    at = datetime.fromisoformat("2026-11-23T21:30:00+08:00")
    snap = snapshot(caller_ids={CALLER_KEY: caller_id(active=False)})
    reasons = {r.code: r for r in verdict(request(), snap, at, Facts(attempts_today=2)).reasons}
    assert reasons["outside_calling_hours"].message_zh == (
        "被叫当地时间 21:30 Asia/Shanghai 不在准许拨打时段 09:00-20:00 内（工作日）"
    )
    assert reasons["caller_id_not_registered"].message_zh == "主叫号码 +864008001234 未启用"
    assert reasons["frequency_exceeded"].message_zh == (
        "对被叫号码 138****5678 的拨打已达上限：今日已拨打 2 次（上限每日 2 次）"
    )


def test_a_reason_stored_before_reasons_spoke_chinese_is_completed_from_the_table():
    old = Reason("dnc_listed", "dnc", "callee 138****5678 is on the do-not-call list")
    done = completed(old)
    assert done.message == old.message
    assert done.message_zh == REASONS["dnc_listed"].summary_zh
    assert done.source == REASONS["dnc_listed"].source
    new = failing(["dnc"], "marketing")[0]
    assert completed(new) is new


def test_an_allowed_check_builds_no_message():
    assert verdict(request(), facts=Facts()).reasons == ()


def test_degraded_keeps_the_english_detail_in_the_chinese_message():
    (r,) = failing(["degraded"], "service")
    assert r.message == "Redis is unreachable"
    assert "Redis is unreachable" in r.message_zh


def test_the_rules_document_lists_every_reason_with_its_summary_and_source():
    text = (API.parent / "RULES.md").read_text(encoding="utf-8")
    rows = {
        m[0]: (m[1], m[2], m[3])
        for m in re.findall(r"^\| `([a-z_]+)` \| ([a-z_]+) \| ([^|]+) \| ([^|]+) \|$", text, re.M)
    }
    assert rows == {
        code: (info.rule, info.summary_zh, info.source) for code, info in REASONS.items()
    }


def test_every_reason_a_caller_id_cannot_be_dedicated_for_has_chinese():
    import inspect

    from gateway.policy import numbers
    from gateway.policy.rules import caller_id

    said = set(re.findall(r'return "([^"]+)"', inspect.getsource(numbers._caller_id_problem)))
    assert said and said == set(caller_id._UNFIT_ZH)
