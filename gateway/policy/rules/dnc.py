"""Rule `dnc`: an active do-not-call entry blocks the purposes its scope covers.

A `marketing` entry blocks marketing and appointment calls; an `all` entry blocks
every purpose (see `DNC_BLOCKING_SCOPES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import msgspec

from gateway.policy.facts import DNC_BLOCKING_SCOPES, Facts
from gateway.policy.numbers import mask_number
from gateway.policy.types import PURPOSE_ZH, SCOPE_ZH, Purpose, Reason, reason


def dnc_reasons(e164: str | None, purpose: Purpose, facts: Facts) -> tuple[Reason, ...]:
    scope = facts.dnc_scope
    if e164 is None or scope is None or scope not in DNC_BLOCKING_SCOPES[purpose]:
        return ()
    note = f" {facts.dnc_note}" if facts.dnc_note else ""
    masked = mask_number(e164)
    return (
        reason(
            "dnc_listed",
            f"callee {masked} is on the do-not-call list{note}, "
            f"scope {scope}, which covers {purpose} calls",
            f"被叫号码 {masked} 在禁止拨打名单中（范围：{SCOPE_ZH[scope]}），"
            f"不得拨打{PURPOSE_ZH[purpose]}电话",
        ),
    )


# Since when and why a number is blocked: the entry that began the blocking in force (an
# entry that merged with or replaced an earlier one that blocked the same purposes goes
# back to that one). Looked up after the verdict, only for a check denied `dnc_listed`;
# the verdict never depends on it, and without it the message is as above.
REASON_SHOWN = 60  # characters of the entry's reason quoted in a message


@dataclass(frozen=True)
class ListedSince:
    since: date  # the day (Asia/Shanghai) the blocking entry was first made
    source: str
    reason: str | None


def _why(listed: ListedSince, colon: str) -> str:
    text = " ".join((listed.reason or "").split())
    if len(text) > REASON_SHOWN:
        text = text[: REASON_SHOWN - 1].rstrip() + "…"
    return f"{listed.source}{colon}{text}" if text else listed.source


def since_clause(listed: ListedSince) -> str:
    """`, since 2026-11-02 (customer_refusal: 客户明确拒绝)`, for the English message."""
    return f", since {listed.since.isoformat()} ({_why(listed, ': ')})"


def since_clause_zh(listed: ListedSince) -> str:
    """`；自 2026-11-02 起列入（customer_refusal：客户明确拒绝）`, for the Chinese message."""
    return f"；自 {listed.since.isoformat()} 起列入（{_why(listed, '：')}）"


def is_listed(reasons: tuple[Reason, ...]) -> bool:
    return any(r.code == "dnc_listed" for r in reasons)


def with_listed_since(reasons: tuple[Reason, ...], listed: ListedSince) -> tuple[Reason, ...]:
    """The reasons with the `dnc_listed` one saying since when and why."""
    return tuple(
        msgspec.structs.replace(
            r,
            message=r.message + since_clause(listed),
            message_zh=r.message_zh + since_clause_zh(listed),
        )
        if r.code == "dnc_listed"
        else r
        for r in reasons
    )
