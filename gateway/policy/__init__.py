"""The pre-call policy: a pure function of the request, the time, a registry snapshot
and the facts Redis holds. Nothing here does I/O or reads a clock; time is passed in.

How a check runs:

1. `build_context(request, now, snapshot)` parses the callee once (E.164, kind,
   province, zone) and puts `now` in the callee's local time (Asia/Shanghai when the
   callee is invalid).
2. `static_reasons(ctx)` runs every rule that needs no Redis fact, each on every
   check, in this order: `number` (invalid_number, staff_number), `hours`
   (calendar_unavailable, holiday_blocked or outside_calling_hours), `caller_id`,
   `script`, `agent` (agent_not_authorized, cold_call_forbidden, callback_by_seller),
   `campaign` (campaign_not_active, product_not_allowed), `list`.
3. The API asks Redis what `fact_query(ctx)` names, in one script that counts the
   attempt only when everything else passed (for the purposes the policy counts:
   `Snapshot.counted_purposes`), and wraps the answer in `Facts`.
4. `judge(ctx, static, facts)` adds `dnc` and `frequency`; when `facts.degraded` says a
   fact could not be established it adds `gateway_degraded` instead of those two.

How results combine: deny is a set. Each rule returns the reasons it fails (at most
one per code, its message naming every problem it found) or nothing; no rule looks
at another's result or stops the others. The verdict is `allow` exactly when no rule
gave a reason, else `deny` with all reasons, concatenated in the order above.

Where a part of a rule needs the callee (staff number, the caller id's provinces, list
membership, the agent's customer register, DNC, caps), it is skipped for an invalid
callee: `invalid_number` already denies, and there is nothing to look up.
"""

from gateway.policy.context import CallContext, build_context
from gateway.policy.days import day_type
from gateway.policy.document import (
    DEFAULT_POLICY,
    DayWindows,
    FrequencyPolicy,
    PolicyDocument,
    PolicyProblem,
    RetentionPolicy,
    Window,
    clamp_stored,
    counted_purposes,
    validate_policy,
)
from gateway.policy.engine import decide, judge, static_reasons, valid_until
from gateway.policy.facts import DNC_BLOCKING_SCOPES, FactQuery, Facts, fact_query
from gateway.policy.numbers import (
    ParsedNumber,
    mask_number,
    normalize_caller_id,
    normalize_number,
    parse_callee,
)
from gateway.policy.numberset import NumberSet
from gateway.policy.provinces import PROVINCES, canonical_province
from gateway.policy.registry import Agent, CallerId, Campaign, Script, Snapshot
from gateway.policy.request import REQUIRED_BY_PURPOSE, CheckRequest, missing_fields
from gateway.policy.retention import (
    REFUSAL_MIN_DAYS,
    PolicyTerms,
    earliest_refusal_expiry,
    may_delete,
    retention_until,
)
from gateway.policy.rules.frequency import frequency_reasons
from gateway.policy.scrub import ScrubResult, scrub
from gateway.policy.types import (
    AGENT_KINDS,
    PRODUCT_TYPES,
    PURPOSES,
    REASON_CODES,
    REASONS,
    AgentKind,
    DayType,
    DncScope,
    ProductType,
    Purpose,
    Reason,
    Verdict,
    completed,
    completed_fields,
)

__all__ = [
    "AGENT_KINDS",
    "DEFAULT_POLICY",
    "DNC_BLOCKING_SCOPES",
    "PRODUCT_TYPES",
    "PROVINCES",
    "PURPOSES",
    "REASONS",
    "REASON_CODES",
    "REFUSAL_MIN_DAYS",
    "REQUIRED_BY_PURPOSE",
    "Agent",
    "AgentKind",
    "CallContext",
    "CallerId",
    "Campaign",
    "CheckRequest",
    "DayType",
    "DayWindows",
    "DncScope",
    "FactQuery",
    "Facts",
    "FrequencyPolicy",
    "NumberSet",
    "ParsedNumber",
    "PolicyDocument",
    "PolicyProblem",
    "PolicyTerms",
    "ProductType",
    "Purpose",
    "Reason",
    "RetentionPolicy",
    "Script",
    "ScrubResult",
    "Snapshot",
    "Verdict",
    "Window",
    "build_context",
    "canonical_province",
    "clamp_stored",
    "completed",
    "completed_fields",
    "counted_purposes",
    "day_type",
    "decide",
    "earliest_refusal_expiry",
    "fact_query",
    "frequency_reasons",
    "judge",
    "mask_number",
    "may_delete",
    "missing_fields",
    "normalize_caller_id",
    "normalize_number",
    "parse_callee",
    "retention_until",
    "scrub",
    "static_reasons",
    "valid_until",
    "validate_policy",
]
