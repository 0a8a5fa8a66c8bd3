"""Batch scrub of numbers for a campaign: the number, staff, DNC and list rules only.

Hours, caps, caller id, agent and script belong to the moment of the call, not to a scrub.
"""

from __future__ import annotations

import msgspec

from gateway.policy.facts import Facts
from gateway.policy.numbers import ParsedNumber
from gateway.policy.registry import Snapshot
from gateway.policy.rules.dnc import dnc_reasons
from gateway.policy.rules.lists import scrub_reasons
from gateway.policy.rules.number import number_reasons
from gateway.policy.rules.system import system_reasons
from gateway.policy.types import Purpose, Reason


class ScrubResult(msgspec.Struct, frozen=True, kw_only=True):
    input: str
    callee_e164: str | None
    callable: bool
    reasons: tuple[Reason, ...]


def scrub(
    raw: str,
    callee: ParsedNumber | None,
    purpose: Purpose,
    campaign_id: str | None,
    snapshot: Snapshot,
    facts: Facts,
) -> ScrubResult:
    """One number of a scrub. `callee` is `parse_callee(raw)`, parsed once by the caller
    to look up its DNC entry; `facts` carries that entry's scope (or `degraded`).
    For marketing, the number must be on any of the campaign's lists.
    """
    reasons = number_reasons(raw, callee, snapshot.staff_numbers)
    e164 = callee.e164 if callee is not None else None
    if facts.degraded is not None:
        reasons += system_reasons(facts)
    else:
        reasons += dnc_reasons(e164, purpose, facts)
    if purpose == "marketing":
        campaign = snapshot.campaigns.get(campaign_id) if campaign_id else None
        reasons += scrub_reasons(callee, campaign_id, campaign, snapshot.lists)
    return ScrubResult(input=raw, callee_e164=e164, callable=not reasons, reasons=reasons)
