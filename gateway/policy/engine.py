"""Running the rules and combining their reasons into a verdict."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from gateway.policy.context import CallContext
from gateway.policy.facts import FactQuery, Facts, fact_query
from gateway.policy.rules import agent, caller_id, campaign, hours, lists, number, script
from gateway.policy.rules.dnc import dnc_reasons
from gateway.policy.rules.frequency import frequency_reasons
from gateway.policy.rules.hours import window_left_us
from gateway.policy.rules.system import system_reasons
from gateway.policy.types import Reason, Verdict

StaticRule = Callable[[CallContext], tuple[Reason, ...]]

STATIC_RULES: Final[tuple[StaticRule, ...]] = (
    number.check,
    hours.check,
    caller_id.check,
    script.check,
    agent.check,
    campaign.check,
    lists.check,
)


def static_reasons(ctx: CallContext) -> tuple[Reason, ...]:
    """The reasons of every rule that needs no Redis fact."""
    reasons: list[Reason] = []
    for rule in STATIC_RULES:
        reasons.extend(rule(ctx))
    return tuple(reasons)


def judge(
    ctx: CallContext, static: tuple[Reason, ...], facts: Facts, query: FactQuery | None = None
) -> Verdict:
    """Adds the fact rules to `static`. Degraded facts judge nothing but `gateway_degraded`.

    `query` is `fact_query(ctx)`, for a caller that has it already.
    """
    if facts.degraded is not None:
        return Verdict.of(static + system_reasons(facts))
    if query is None:
        query = fact_query(ctx)
    return Verdict.of(
        static
        + dnc_reasons(query.e164, ctx.request.purpose, facts)
        + frequency_reasons(query, facts)
    )


def decide(ctx: CallContext, facts: Facts) -> Verdict:
    """Both phases at once, for callers that have the facts already (simulation, tests)."""
    return judge(ctx, static_reasons(ctx), facts)


def valid_until(ctx: CallContext, valid: timedelta) -> datetime:
    """Until when an allow covers a dial: `valid` after the check, truncated to the second,
    and never past the end of the calling window the check fell in; in the callee's zone."""
    local = ctx.local_now
    until_us = valid // _MICROSECOND - local.microsecond  # truncated to the second
    left_us = window_left_us(ctx)
    if left_us is not None and left_us < until_us:
        until_us = left_us
    return local + timedelta(microseconds=until_us)


_MICROSECOND = timedelta(microseconds=1)
