"""Rule `agent`: an authorised agent, no cold calls, no return visit by the seller (the
`sold_by_agent_id` the dialer names, or a seller of the policy the check names).

Licence and training dates are valid through that day, in the callee's local date.
The customer register is judged for a known agent and a valid callee only; an
unknown agent or an invalid number already denies the call.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.numbers import mask_number
from gateway.policy.types import Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    agent_id = request.agent_id
    agent = ctx.snapshot.agents.get(agent_id)
    reasons: list[Reason] = []
    problems: list[str] = []
    if agent is None:
        problems.append("is not registered")
    else:
        today = ctx.local_now.date()
        if not agent.active:
            problems.append("is not active")
        if agent.licence_valid_until < today:
            problems.append(f"licence expired {agent.licence_valid_until.isoformat()}")
        if agent.training_valid_until < today:
            problems.append(f"training expired {agent.training_valid_until.isoformat()}")
        if purpose not in agent.purposes:
            problems.append(f"is not allowed {purpose} calls")
    if problems:
        reasons.append(reason("agent_not_authorized", f"agent {agent_id} " + "; ".join(problems)))
    callee = ctx.callee
    if (
        purpose == "appointment"
        and agent is not None
        and callee is not None
        and callee.e164 not in agent.customers
    ):
        reasons.append(
            reason(
                "cold_call_forbidden",
                f"callee {mask_number(callee.e164)} is not on agent {agent_id}'s "
                "customer and referral register",
            )
        )
    if purpose == "callback" and (
        request.sold_by_agent_id == agent_id or agent_id in ctx.policy_sellers
    ):
        sold = f"policy {request.policy_no}" if request.policy_no else "the policy"
        reasons.append(
            reason(
                "callback_by_seller",
                f"agent {agent_id} sold {sold} and may not make its return visit",
            )
        )
    return tuple(reasons)
