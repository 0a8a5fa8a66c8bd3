"""Rule `number`: the callee must be a dialable CN number and the customer's own."""

from __future__ import annotations

from collections.abc import Container

from gateway.policy.context import CallContext
from gateway.policy.numbers import ParsedNumber, explain_invalid, mask_number
from gateway.policy.types import Reason, reason


def number_reasons(
    raw: str, callee: ParsedNumber | None, staff_numbers: Container[str]
) -> tuple[Reason, ...]:
    if callee is None:
        return (reason("invalid_number", explain_invalid(raw)),)
    if callee.e164 in staff_numbers:
        return (
            reason(
                "staff_number",
                f"callee {mask_number(callee.e164)} is a registered staff or branch number, "
                "not the customer's own",
            ),
        )
    return ()


def check(ctx: CallContext) -> tuple[Reason, ...]:
    return number_reasons(ctx.request.callee, ctx.callee, ctx.snapshot.staff_numbers)
