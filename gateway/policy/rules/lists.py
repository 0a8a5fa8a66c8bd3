"""Rule `list`: a marketing call goes only to a number on one of the campaign's lists."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.policy.context import CallContext
from gateway.policy.numbers import ParsedNumber, mask_number
from gateway.policy.numberset import NumberSet
from gateway.policy.registry import Campaign
from gateway.policy.types import Reason, reason


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    if request.purpose != "marketing":
        return ()
    list_id = request.list_id
    if list_id is None:
        return (reason("not_in_approved_list", "a marketing call needs a list"),)
    snapshot = ctx.snapshot
    campaign_id = request.campaign_id
    problems: list[str] = []
    campaign = snapshot.campaigns.get(campaign_id) if campaign_id else None
    if campaign_id is None:
        problems.append("is not approved: no campaign given")
    elif campaign is None:
        problems.append(f"is not approved: campaign {campaign_id} is not registered")
    elif list_id not in campaign.list_ids:
        problems.append(f"is not one of campaign {campaign_id}'s lists")
    numbers = snapshot.lists.get(list_id)
    if numbers is None:
        problems.append("is not loaded")
    elif ctx.callee is not None and ctx.callee.e164 not in numbers:
        problems.append(f"does not hold callee {mask_number(ctx.callee.e164)}")
    if not problems:
        return ()
    return (reason("not_in_approved_list", f"list {list_id} " + "; ".join(problems)),)


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
        return (reason("not_in_approved_list", f"campaign {shown} is not registered"),)
    for list_id in campaign.list_ids:
        numbers = lists.get(list_id)
        if numbers is not None and callee.e164 in numbers:
            return ()
    return (
        reason(
            "not_in_approved_list",
            f"callee {mask_number(callee.e164)} is on none of campaign "
            f"{campaign.campaign_id}'s lists",
        ),
    )
