"""Rule `agent`: an authorised agent, no cold calls, no return visit by the seller.

No cold calls: an individual agent (营销员) makes no marketing calls at all, and any
agent's appointment calls go only to its own customers and referrals.

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
    if purpose == "marketing" and agent is not None and agent.kind == "individual_agent":
        reasons.append(
            reason(
                "cold_call_forbidden",
                f"agent {agent_id} is an individual agent: no marketing calls, only "
                "appointment calls to own customers and referrals",
            )
        )
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
    if purpose == "callback" and request.sold_by_agent_id == agent_id:
        reasons.append(
            reason(
                "callback_by_seller",
                f"agent {agent_id} sold the policy and may not make its return visit",
            )
        )
    return tuple(reasons)
