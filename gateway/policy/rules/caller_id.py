"""Rule `caller_id`: only a registered, active dedicated number allowed for the call.

A caller id that cannot be a dedicated number (a mobile, not a valid number) is refused
even when the registry holds it: rows registered before registration refused them
must not let such a number through.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.numbers import dedicated_caller_id
from gateway.policy.types import PURPOSE_ZH, Problems, Reason

# `dedicated_caller_id`'s problems, in Chinese.
_UNFIT_ZH = {
    "is not a telephone number": "不是电话号码",
    "carries an extension": "带有分机号",
    "is not a mainland China (+86) number": "不是中国大陆（+86）号码",
    "is a mobile number, never a dedicated telemarketing number": (
        "是手机号码，不能作为电话营销专用号码"
    ),
    "is not a valid number": "不是有效号码",
}


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    snapshot = ctx.snapshot
    key, unfit = dedicated_caller_id(request.caller_id)
    problems = Problems()
    if unfit is not None:
        problems.add(unfit, _UNFIT_ZH.get(unfit, unfit))
    entry = snapshot.caller_ids.get(key)
    if entry is None:
        problems.add("is not registered", "未登记")
    else:
        if not entry.active:
            problems.add("is not active", "未启用")
        if request.purpose not in entry.purposes:
            problems.add(
                f"is not allowed for {request.purpose} calls",
                f"不得用于{PURPOSE_ZH[request.purpose]}电话",
            )
        if entry.provinces is not None and ctx.callee is not None:
            province = ctx.callee.province
            if province is None:
                problems.add(
                    "is limited to some provinces and the callee's is unknown",
                    "限于部分省份使用，而被叫号码的省份未知",
                )
            elif province not in entry.provinces:
                problems.add(
                    f"is not allowed for callees in {province}", f"不得用于拨打{province}的号码"
                )
    campaign = snapshot.campaigns.get(request.campaign_id) if request.campaign_id else None
    if campaign is not None and campaign.caller_ids and key not in campaign.caller_ids:
        problems.add(
            f"is not among campaign {campaign.campaign_id}'s caller ids",
            f"不是营销活动 {campaign.campaign_id} 的主叫号码",
        )
    if not problems:
        return ()
    shown = key or repr(request.caller_id)
    return (
        problems.reason("caller_id_not_registered", f"caller id {shown}", f"主叫号码 {shown} "),
    )
