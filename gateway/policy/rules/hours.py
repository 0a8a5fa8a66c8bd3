"""Rule `hours`: the callee's local time must fall in a window for the day's type.

Applies to every purpose. A province with its own hours replaces the national hours.
Exactly one reason at most: no calendar, a holiday without windows, or outside windows.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from gateway.policy.context import CallContext
from gateway.policy.days import day_type
from gateway.policy.numbers import CHINA_TZ
from gateway.policy.types import DAY_ZH, Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    snapshot = ctx.snapshot
    local = ctx.local_now
    callee = ctx.callee
    today = local.date()
    kind = day_type(today, snapshot.holidays, snapshot.complete_years)
    if kind is None:
        day = today.isoformat()
        return (
            reason(
                "calendar_unavailable",
                f"no calendar for {day}: the built-in calendar does not cover "
                f"{today.year} and its holiday schedule is not declared complete",
                f"没有 {day} 的日历：内置日历不覆盖 {today.year} 年，"
                "且该年的节假日安排未声明录入完整",
            ),
        )
    plans, own_hours = snapshot.hours_plan.for_province(
        callee.province if callee is not None else None
    )
    plan = plans[kind]
    if plan.allows(local.hour * 60 + local.minute):
        return ()
    if kind == "holiday" and not plan.spans:
        day = today.isoformat()
        return (
            reason(
                "holiday_blocked",
                f"{day} is a statutory holiday and the policy has no holiday window"
                + (f" for {own_hours}" if own_hours else ""),
                f"{day} 是法定节假日，"
                + (f"{own_hours}的" if own_hours else "")
                + "呼叫策略没有节假日准许拨打时段",
            ),
        )
    clock = f"{local:%H:%M} {callee.tz if callee is not None else CHINA_TZ}"
    whose = f"{kind}, {own_hours} hours" if own_hours else kind
    whose_zh = f"{DAY_ZH[kind]}，{own_hours}的时段" if own_hours else DAY_ZH[kind]
    if not plan.spans:
        message = f"{clock}: no calls on a {whose}"
        message_zh = f"被叫当地时间 {clock}：{whose_zh}不准许拨打"
    else:
        message = f"{clock} is outside {plan.label} ({whose})"
        message_zh = f"被叫当地时间 {clock} 不在准许拨打时段 {plan.label} 内（{whose_zh}）"
    return (reason("outside_calling_hours", message, message_zh),)


def window_left_us(ctx: CallContext) -> int | None:
    """Microseconds from the check to the end of the calling window its local time falls
    in; None when it falls in none (the check is denied then). Plain integers: the check
    pays for no datetime arithmetic."""
    local = ctx.local_now
    kind = day_type(local.date(), ctx.snapshot.holidays, ctx.snapshot.complete_years)
    if kind is None:
        return None
    callee = ctx.callee
    plans, _ = ctx.snapshot.hours_plan.for_province(callee.province if callee else None)
    minute = local.hour * 60 + local.minute
    for start, end in plans[kind].spans:
        if start <= minute < end:
            return ((end - minute) * 60 - local.second) * 1_000_000 - local.microsecond
    return None


def window_end(ctx: CallContext) -> datetime | None:
    """When the calling window the check's local time falls in ends, in the callee's zone;
    None when it falls in none."""
    left = window_left_us(ctx)
    return None if left is None else ctx.local_now + timedelta(microseconds=left)
