"""Rule `dnc`: an active do-not-call entry blocks the purposes its scope covers.

A `marketing` entry blocks marketing and appointment calls; an `all` entry blocks
every purpose (see `DNC_BLOCKING_SCOPES`).
"""

from __future__ import annotations

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
