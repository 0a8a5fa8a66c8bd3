"""Rule `caller_id`: only a registered, active dedicated number allowed for the call.

A caller id that cannot be a dedicated number (a mobile, not a valid number) is refused
even when the registry holds it: rows registered before registration refused them
must not let such a number through.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.numbers import dedicated_caller_id
from gateway.policy.types import Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    snapshot = ctx.snapshot
    key, unfit = dedicated_caller_id(request.caller_id)
    problems: list[str] = [] if unfit is None else [unfit]
    entry = snapshot.caller_ids.get(key)
    if entry is None:
        problems.append("is not registered")
    else:
        if not entry.active:
            problems.append("is not active")
        if request.purpose not in entry.purposes:
            problems.append(f"is not allowed for {request.purpose} calls")
        if entry.provinces is not None and ctx.callee is not None:
            province = ctx.callee.province
            if province is None:
                problems.append("is limited to some provinces and the callee's is unknown")
            elif province not in entry.provinces:
                problems.append(f"is not allowed for callees in {province}")
    campaign = snapshot.campaigns.get(request.campaign_id) if request.campaign_id else None
    if campaign is not None and campaign.caller_ids and key not in campaign.caller_ids:
        problems.append(f"is not among campaign {campaign.campaign_id}'s caller ids")
    if not problems:
        return ()
    shown = key or repr(request.caller_id)
    return (reason("caller_id_not_registered", f"caller id {shown} " + "; ".join(problems)),)
