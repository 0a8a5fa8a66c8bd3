"""Rule `campaign`: a registered, active campaign of this purpose, within its dates, and
for marketing and appointment calls one selling a product type telephone sales may
offer (the policy's `telesales_product_types`).

Marketing and appointment calls need one; other purposes are held to it only when
they name a campaign.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.types import SELLING_PURPOSES, Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    campaign_id = request.campaign_id
    if campaign_id is None:
        if purpose in SELLING_PURPOSES:
            return (reason("campaign_not_active", f"a {purpose} call needs a campaign"),)
        return ()
    campaign = ctx.snapshot.campaigns.get(campaign_id)
    problems: list[str] = []
    if campaign is None:
        problems.append("is not registered")
    else:
        now = ctx.now
        tz = ctx.local_now.tzinfo
        if not campaign.active:
            problems.append("is not active")
        if campaign.starts_at is not None and now < campaign.starts_at:
            starts = campaign.starts_at.astimezone(tz).isoformat(timespec="minutes")
            problems.append(f"starts {starts}")
        if campaign.ends_at is not None and now >= campaign.ends_at:
            ended = campaign.ends_at.astimezone(tz).isoformat(timespec="minutes")
            problems.append(f"ended {ended}")
        if campaign.purpose != purpose:
            problems.append(f"is a {campaign.purpose} campaign, not {purpose}")
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
            reason("campaign_not_active", f"campaign {campaign_id} " + "; ".join(problems))
        )
    if unsold:
        assert campaign is not None
        allowed = ctx.snapshot.policy.telesales_product_types
        reasons.append(
            reason(
                "product_not_allowed",
                f"campaign {campaign_id} sells {campaign.product_type} products; "
                f"telephone sales may offer only {', '.join(allowed)}",
            )
        )
    return tuple(reasons)
