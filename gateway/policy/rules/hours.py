"""Rule `hours`: the callee's local time must fall in a window for the day's type.

Applies to every purpose. A province with its own hours replaces the national hours.
Exactly one reason at most: no calendar, a holiday without windows, or outside windows.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.days import day_type
from gateway.policy.numbers import CHINA_TZ
from gateway.policy.types import Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    snapshot = ctx.snapshot
    local = ctx.local_now
    callee = ctx.callee
    today = local.date()
    kind = day_type(today, snapshot.holidays, snapshot.complete_years)
    if kind is None:
        return (
            reason(
                "calendar_unavailable",
                f"no calendar for {today.isoformat()}: the built-in calendar does not cover "
                f"{today.year} and its holiday schedule is not declared complete",
            ),
        )
    plans, own_hours = snapshot.hours_plan.for_province(
        callee.province if callee is not None else None
    )
    plan = plans[kind]
    if plan.allows(local.hour * 60 + local.minute):
        return ()
    if kind == "holiday" and not plan.spans:
        return (
            reason(
                "holiday_blocked",
                f"{today.isoformat()} is a statutory holiday and the policy has no holiday window"
                + (f" for {own_hours}" if own_hours else ""),
            ),
        )
    clock = f"{local:%H:%M} {callee.tz if callee is not None else CHINA_TZ}"
    whose = f"{kind}, {own_hours} hours" if own_hours else kind
    if not plan.spans:
        message = f"{clock}: no calls on a {whose}"
    else:
        message = f"{clock} is outside {plan.label} ({whose})"
    return (reason("outside_calling_hours", message),)
