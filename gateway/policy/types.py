"""Names every rule shares: purposes, scopes, day types, reasons and verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

import msgspec

Purpose = Literal["marketing", "appointment", "callback", "service"]
DncScope = Literal["all", "marketing"]
DayType = Literal["workday", "restday", "holiday"]
Decision = Literal["allow", "deny"]
AgentKind = Literal["telesales", "individual_agent"]
ProductType = Literal["ordinary", "participating", "universal", "unit_linked"]

ReasonCode = Literal[
    "invalid_number",
    "staff_number",
    "dnc_listed",
    "outside_calling_hours",
    "holiday_blocked",
    "calendar_unavailable",
    "caller_id_not_registered",
    "script_not_approved",
    "agent_not_authorized",
    "cold_call_forbidden",
    "callback_by_seller",
    "campaign_not_active",
    "product_not_allowed",
    "not_in_approved_list",
    "frequency_exceeded",
    "gateway_degraded",
]

PURPOSES: Final[tuple[Purpose, ...]] = ("marketing", "appointment", "callback", "service")
DNC_SCOPES: Final[tuple[DncScope, ...]] = ("all", "marketing")
DAY_TYPES: Final[tuple[DayType, ...]] = ("workday", "restday", "holiday")
# Call-centre staff, or an individual agent (营销员), who may make no marketing calls.
AGENT_KINDS: Final[tuple[AgentKind, ...]] = ("telesales", "individual_agent")
PRODUCT_TYPES: Final[tuple[ProductType, ...]] = (
    "ordinary",
    "participating",
    "universal",
    "unit_linked",
)

# Purposes that sell: a script and a campaign are required, attempts are always capped
# (whatever the policy's frequency_purposes say) and a marketing do-not-call entry blocks
# them.
SELLING_PURPOSES: Final[frozenset[Purpose]] = frozenset({"marketing", "appointment"})

REASON_CODES: Final[Mapping[str, str]] = MappingProxyType(
    {
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
)


class Reason(msgspec.Struct, frozen=True):
    code: str
    rule: str
    message: str


def reason(code: ReasonCode, message: str) -> Reason:
    """A reason with the rule its code belongs to."""
    return Reason(code, REASON_CODES[code], message)


class Verdict(msgspec.Struct, frozen=True):
    decision: Decision
    reasons: tuple[Reason, ...]

    @classmethod
    def of(cls, reasons: tuple[Reason, ...]) -> Verdict:
        """Deny exactly when some rule gave a reason."""
        return cls("deny" if reasons else "allow", reasons)
