"""Rule `campaign`: a registered, active campaign of this purpose, within its dates.

Marketing and appointment calls need one; other purposes are held to it only when
they name a campaign.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.types import PURPOSE_ZH, SELLING_PURPOSES, Problems, Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    campaign_id = request.campaign_id
    if campaign_id is None:
        if purpose in SELLING_PURPOSES:
            return (
                reason(
                    "campaign_not_active",
                    f"a {purpose} call needs a campaign",
                    f"{PURPOSE_ZH[purpose]}电话必须属于一个营销活动",
                ),
            )
        return ()
    campaign = ctx.snapshot.campaigns.get(campaign_id)
    problems = Problems()
    if campaign is None:
        problems.add("is not registered", "未登记")
    else:
        now = ctx.now
        tz = ctx.local_now.tzinfo
        if not campaign.active:
            problems.add("is not active", "未启用")
        if campaign.starts_at is not None and now < campaign.starts_at:
            starts = campaign.starts_at.astimezone(tz).isoformat(timespec="minutes")
            problems.add(f"starts {starts}", f"于 {starts} 开始")
        if campaign.ends_at is not None and now >= campaign.ends_at:
            ended = campaign.ends_at.astimezone(tz).isoformat(timespec="minutes")
            problems.add(f"ended {ended}", f"已于 {ended} 结束")
        if campaign.purpose != purpose:
            problems.add(
                f"is a {campaign.purpose} campaign, not {purpose}",
                f"是{PURPOSE_ZH[campaign.purpose]}活动，不是{PURPOSE_ZH[purpose]}活动",
            )
    if not problems:
        return ()
    return (
        problems.reason(
            "campaign_not_active", f"campaign {campaign_id}", f"营销活动 {campaign_id} "
        ),
    )
