"""Rule `list`: a marketing call goes only to a number on one of the campaign's lists."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.context import CallContext
from gateway.policy.numbers import ParsedNumber, mask_number
from gateway.policy.numberset import NumberSet
from gateway.policy.registry import Campaign
from gateway.policy.types import Problems, Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    if request.purpose != "marketing":
        return ()
    list_id = request.list_id
    if list_id is None:
        return (
            reason(
                "not_in_approved_list",
                "a marketing call needs a list",
                "营销电话必须使用经批准的名单",
            ),
        )
    snapshot = ctx.snapshot
    campaign_id = request.campaign_id
    problems = Problems()
    campaign = snapshot.campaigns.get(campaign_id) if campaign_id else None
    if campaign_id is None:
        problems.add("is not approved: no campaign given", "未经批准：没有指定营销活动")
    elif campaign is None:
        problems.add(
            f"is not approved: campaign {campaign_id} is not registered",
            f"未经批准：营销活动 {campaign_id} 未登记",
        )
    elif list_id not in campaign.list_ids:
        problems.add(
            f"is not one of campaign {campaign_id}'s lists",
            f"不是营销活动 {campaign_id} 的名单",
        )
    numbers = snapshot.lists.get(list_id)
    if numbers is None:
        problems.add("is not loaded", "未导入")
    elif ctx.callee is not None and ctx.callee.e164 not in numbers:
        masked = mask_number(ctx.callee.e164)
        problems.add(f"does not hold callee {masked}", f"不包含被叫号码 {masked}")
    if not problems:
        return ()
    return (problems.reason("not_in_approved_list", f"list {list_id}", f"名单 {list_id} "),)


def scrub_reasons(
    callee: ParsedNumber | None,
    campaign_id: str | None,
    campaign: Campaign | None,
    lists: Mapping[str, NumberSet],
) -> tuple[Reason, ...]:
    """For a batch scrub: the number must be on any of the campaign's lists."""
    if callee is None:
        return ()
    if campaign is None:
        shown = campaign_id if campaign_id else "(none)"
        return (
            reason(
                "not_in_approved_list",
                f"campaign {shown} is not registered",
                f"营销活动 {shown} 未登记",
            ),
        )
    for list_id in campaign.list_ids:
        numbers = lists.get(list_id)
        if numbers is not None and callee.e164 in numbers:
            return ()
    masked = mask_number(callee.e164)
    return (
        reason(
            "not_in_approved_list",
            f"callee {masked} is on none of campaign {campaign.campaign_id}'s lists",
            f"被叫号码 {masked} 不在营销活动 {campaign.campaign_id} 的任何名单中",
        ),
    )
