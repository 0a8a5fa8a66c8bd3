"""Rule `number`: the callee must be a dialable CN number and the customer's own."""

from __future__ import annotations

from collections.abc import Container

from gateway.policy.context import CallContext
from gateway.policy.numbers import ParsedNumber, explain_invalid_both, mask_number
from gateway.policy.types import Reason, reason


def number_reasons(
    raw: str, callee: ParsedNumber | None, staff_numbers: Container[str]
) -> tuple[Reason, ...]:
    if callee is None:
        return (reason("invalid_number", *explain_invalid_both(raw)),)
    if callee.e164 in staff_numbers:
        masked = mask_number(callee.e164)
        return (
            reason(
                "staff_number",
                f"callee {masked} is a registered staff or branch number, not the customer's own",
                f"被叫号码 {masked} 是登记的员工或机构号码，不是客户本人的号码",
            ),
        )
    return ()


def check(ctx: CallContext) -> tuple[Reason, ...]:
    return number_reasons(ctx.request.callee, ctx.callee, ctx.snapshot.staff_numbers)
