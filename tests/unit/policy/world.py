"""A small, fully registered world in which every purpose's baseline call is allowed.

Tests change one thing at a time and look at the reasons of the rule under test.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import msgspec

from gateway.policy import (
    Agent,
    CallContext,
    CallerId,
    Campaign,
    CheckRequest,
    Facts,
    NumberSet,
    Purpose,
    Reason,
    Script,
    Snapshot,
    Verdict,
    build_context,
    decide,
    static_reasons,
)

CST = timezone(timedelta(hours=8))
# A Monday, a working day, mid-morning in Beijing.
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=CST)

CALLEE = "13812345678"  # a Jiangsu mobile
CALLEE_E164 = "+8613812345678"
OTHER_CALLEE = "13912345678"
OTHER_E164 = "+8613912345678"
BEIJING_LANDLINE = "010-12345678"
UNKNOWN_PROVINCE_MOBILE = "17012345678"  # valid, but the geocoder only says 中国
CALLER_ID = "4008001234"
CALLER_KEY = "+864008001234"
SCRIPT_ID = "term-life-intro"
AGENT_ID = "A1001"
SELLER_ID = "A2002"
LIST_ID = "leads-2026-11"

ALL_PURPOSES: tuple[Purpose, ...] = ("marketing", "appointment", "callback", "service")
CAMPAIGN_FOR: dict[Purpose, str] = {
    "marketing": "term-life-q4",
    "appointment": "own-customers",
    "callback": "return-visits",
    "service": "service-calls",
}


def caller_id(**changes: Any) -> CallerId:
    base = CallerId(
        number=CALLER_KEY, purposes=frozenset(ALL_PURPOSES), provinces=None, active=True
    )
    return msgspec.structs.replace(base, **changes)


def script(**changes: Any) -> Script:
    base = Script(
        script_id=SCRIPT_ID,
        version=3,
        status="filed",
        filing_ref="苏保监备〔2026〕12号",
        discloses_identity=True,
    )
    return msgspec.structs.replace(base, **changes)


def agent(**changes: Any) -> Agent:
    base = Agent(
        agent_id=AGENT_ID,
        name="Wang Fang",
        licence_valid_until=date(2027, 12, 31),
        training_valid_until=date(2027, 6, 30),
        purposes=frozenset(ALL_PURPOSES),
        active=True,
        customers=NumberSet.of([CALLEE_E164, "+861012345678", "+8617012345678"]),
    )
    return msgspec.structs.replace(base, **changes)


def campaign(purpose: Purpose = "marketing", **changes: Any) -> Campaign:
    base = Campaign(
        campaign_id=CAMPAIGN_FOR[purpose],
        purpose=purpose,
        script_ids=frozenset({SCRIPT_ID}),
        caller_ids=frozenset({CALLER_KEY}),
        list_ids=frozenset({LIST_ID}) if purpose == "marketing" else frozenset(),
        starts_at=datetime(2026, 10, 1, tzinfo=CST),
        ends_at=datetime(2027, 1, 1, tzinfo=CST),
        active=True,
    )
    return msgspec.structs.replace(base, **changes)


def snapshot(**changes: Any) -> Snapshot:
    base = Snapshot(
        version=1,
        caller_ids={CALLER_KEY: caller_id()},
        scripts={(SCRIPT_ID, 3): script()},
        agents={AGENT_ID: agent(), SELLER_ID: agent(agent_id=SELLER_ID)},
        campaigns={name: campaign(purpose) for purpose, name in CAMPAIGN_FOR.items()},
        lists={LIST_ID: NumberSet.of([CALLEE_E164, "+861012345678", "+8617012345678"])},
        staff_numbers=frozenset({"+8613700000000"}),
    )
    return base.replace(**changes) if changes else base


def request(purpose: Purpose = "marketing", **changes: Any) -> CheckRequest:
    """A request that passes every rule for its purpose in `snapshot()` at `NOW`."""
    base = CheckRequest(
        callee=CALLEE,
        caller_id=CALLER_ID,
        agent_id=AGENT_ID,
        purpose=purpose,
        campaign_id=CAMPAIGN_FOR[purpose],
        script_id=SCRIPT_ID,
        script_version=3,
        list_id=LIST_ID if purpose == "marketing" else None,
        sold_by_agent_id=SELLER_ID if purpose == "callback" else None,
    )
    return msgspec.structs.replace(base, **changes)


def context(
    req: CheckRequest | None = None, snap: Snapshot | None = None, at: datetime = NOW
) -> CallContext:
    return build_context(req if req is not None else request(), at, snap or snapshot())


def verdict(
    req: CheckRequest | None = None,
    snap: Snapshot | None = None,
    at: datetime = NOW,
    facts: Facts | None = None,
) -> Verdict:
    return decide(context(req, snap, at), facts or Facts())


def codes(
    req: CheckRequest | None = None,
    snap: Snapshot | None = None,
    at: datetime = NOW,
    facts: Facts | None = None,
) -> set[str]:
    return {r.code for r in verdict(req, snap, at, facts).reasons}


def rule_reasons(
    rule: str, req: CheckRequest | None = None, snap: Snapshot | None = None, at: datetime = NOW
) -> list[Reason]:
    return [r for r in static_reasons(context(req, snap, at)) if r.rule == rule]


def rule_codes(
    rule: str, req: CheckRequest | None = None, snap: Snapshot | None = None, at: datetime = NOW
) -> set[str]:
    return {r.code for r in rule_reasons(rule, req, snap, at)}
