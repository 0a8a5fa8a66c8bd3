"""Rule `agent`: an authorised agent, no cold calls, no return visit by the seller (the
`sold_by_agent_id` the dialer names, or a seller of the policy the check names).

No cold calls: an individual agent (营销员) makes no marketing calls at all, and any
agent's appointment calls go only to its own customers and referrals.

Licence and training dates are valid through that day, in the callee's local date.
The customer register is judged for a known agent and a valid callee only; an
unknown agent or an invalid number already denies the call.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.numbers import mask_number
from gateway.policy.types import PURPOSE_ZH, Problems, Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    agent_id = request.agent_id
    agent = ctx.snapshot.agents.get(agent_id)
    reasons: list[Reason] = []
    problems = Problems()
    if agent is None:
        problems.add("is not registered", "未登记")
    else:
        today = ctx.local_now.date()
        if not agent.active:
            problems.add("is not active", "未启用")
        if agent.licence_valid_until < today:
            until = agent.licence_valid_until.isoformat()
            problems.add(f"licence expired {until}", f"执业资格已于 {until} 到期")
        if agent.training_valid_until < today:
            until = agent.training_valid_until.isoformat()
            problems.add(f"training expired {until}", f"培训已于 {until} 到期")
        if purpose not in agent.purposes:
            problems.add(f"is not allowed {purpose} calls", f"不得拨打{PURPOSE_ZH[purpose]}电话")
    if problems:
        reasons.append(
            problems.reason("agent_not_authorized", f"agent {agent_id}", f"坐席 {agent_id} ")
        )
    if purpose == "marketing" and agent is not None and agent.kind == "individual_agent":
        reasons.append(
            reason(
                "cold_call_forbidden",
                f"agent {agent_id} is an individual agent: no marketing calls, only "
                "appointment calls to own customers and referrals",
                f"坐席 {agent_id} 是个人营销员：不得拨打营销电话，"
                "只能对自有客户和转介绍客户进行约访",
            )
        )
    callee = ctx.callee
    if (
        purpose == "appointment"
        and agent is not None
        and callee is not None
        and callee.e164 not in agent.customers
    ):
        masked = mask_number(callee.e164)
        reasons.append(
            reason(
                "cold_call_forbidden",
                f"callee {masked} is not on agent {agent_id}'s customer and referral register",
                f"被叫号码 {masked} 不在坐席 {agent_id} 的自有客户和转介绍客户名册中",
            )
        )
    if purpose == "callback" and (
        request.sold_by_agent_id == agent_id or agent_id in ctx.policy_sellers
    ):
        sold = f"policy {request.policy_no}" if request.policy_no else "the policy"
        sold_zh = f"保单 {request.policy_no}" if request.policy_no else "该保单"
        reasons.append(
            reason(
                "callback_by_seller",
                f"agent {agent_id} sold {sold} and may not make its return visit",
                f"坐席 {agent_id} 销售了{sold_zh}，不得进行该保单的回访",
            )
        )
    return tuple(reasons)
