"""Everything one check is judged on, gathered once."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import msgspec

from gateway.policy.numbers import CHINA_TZ, ParsedNumber, parse_callee
from gateway.policy.registry import Snapshot
from gateway.policy.request import CheckRequest


@lru_cache(maxsize=64)
def zone(key: str) -> ZoneInfo:
    return ZoneInfo(key)


class CallContext(msgspec.Struct, frozen=True, kw_only=True):
    """The request, the moment, the registries, and the callee parsed once.

    `local_now` is `now` in the callee's zone (Asia/Shanghai when the callee is invalid).
    `policy_sellers` are the agents who sold the policy a `callback` names (`policy_no`),
    looked up by the caller only for such a check.
    """

    request: CheckRequest
    now: datetime
    snapshot: Snapshot
    callee: ParsedNumber | None
    local_now: datetime
    policy_sellers: frozenset[str] = frozenset()


def callee_zone(callee: ParsedNumber | None) -> ZoneInfo:
    """The callee's zone, Asia/Shanghai when the callee is not a valid number."""
    return zone(callee.tz if callee is not None else CHINA_TZ)


def build_context(
    request: CheckRequest,
    now: datetime,
    snapshot: Snapshot,
    *,
    policy_sellers: frozenset[str] = frozenset(),
) -> CallContext:
    """`now` must be aware: every time rule works in the callee's local time."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    callee = parse_callee(request.callee)
    tz = callee_zone(callee)
    return CallContext(
        request=request,
        now=now,
        snapshot=snapshot,
        callee=callee,
        local_now=now.astimezone(tz),
        policy_sellers=policy_sellers,
    )
