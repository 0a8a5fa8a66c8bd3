"""Rule `campaign`: a registered, active campaign of this purpose, within its dates, and
for marketing and appointment calls one selling a product type telephone sales may
offer (the policy's `telesales_product_types`).

Marketing and appointment calls need one; other purposes are held to it only when
they name a campaign.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.types import PRODUCT_ZH, PURPOSE_ZH, SELLING_PURPOSES, Problems, Reason, reason


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
    # Checked only for a campaign that sells: the common case costs one comparison.
    unsold = (
        campaign is not None
        and purpose in SELLING_PURPOSES
        and campaign.product_type not in ctx.snapshot.policy.telesales_product_types
    )
    if not problems and not unsold:
        return ()
    reasons: list[Reason] = []
    if problems:
        reasons.append(
            problems.reason(
                "campaign_not_active", f"campaign {campaign_id}", f"营销活动 {campaign_id} "
            )
        )
    if unsold:
        assert campaign is not None
        allowed = ctx.snapshot.policy.telesales_product_types
        kinds = ", ".join(allowed)
        kinds_zh = "、".join(PRODUCT_ZH.get(k, k) for k in allowed)
        product = campaign.product_type
        reasons.append(
            reason(
                "product_not_allowed",
                f"campaign {campaign_id} sells {product} products; "
                f"telephone sales may offer only {kinds}",
                f"营销活动 {campaign_id} 销售{PRODUCT_ZH.get(product, product)}产品；"
                f"电话销售只允许销售{kinds_zh}",
            )
        )
    return tuple(reasons)
