"""Rule `script`: a filed script version, assigned to the campaign, with the disclosure step.

Marketing and appointment calls need one; callback and service calls are held to it
only when they name a script.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.types import PURPOSE_ZH, SELLING_PURPOSES, Problems, Reason, reason

_STATUS_PROBLEMS = {
    "draft": ("is a draft, not filed", "是草稿，未备案"),
    "approved": ("is approved but not filed", "已审核但未备案"),
    "retired": ("is retired", "已停用"),
}


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    script_id, version = request.script_id, request.script_version
    if script_id is None:
        if purpose in SELLING_PURPOSES:
            return (
                reason(
                    "script_not_approved",
                    f"a {purpose} call needs a script",
                    f"{PURPOSE_ZH[purpose]}电话必须使用经审核备案的话术",
                ),
            )
        return ()
    if version is None:
        return (
            reason(
                "script_not_approved",
                f"script {script_id} is named without a version",
                f"话术 {script_id} 未指明版本",
            ),
        )
    problems = Problems()
    script = ctx.snapshot.scripts.get((script_id, version))
    if script is None:
        problems.add("is not registered", "未登记")
    else:
        status_problem = _STATUS_PROBLEMS.get(script.status)
        if status_problem is not None:
            problems.add(*status_problem)
        elif not script.filing_ref:
            problems.add("is filed without a filing reference", "已备案但没有备案编号")
        if purpose == "marketing" and not script.discloses_identity:
            problems.add(
                "lacks the step where the seller states name and job number",
                "缺少销售人员告知姓名和工号的环节",
            )
    campaign_id = request.campaign_id
    campaign = ctx.snapshot.campaigns.get(campaign_id) if campaign_id else None
    if campaign is not None and script_id not in campaign.script_ids:
        problems.add(
            f"is not among campaign {campaign.campaign_id}'s scripts",
            f"不是营销活动 {campaign.campaign_id} 的话术",
        )
    if not problems:
        return ()
    return (
        problems.reason(
            "script_not_approved",
            f"script {script_id} v{version}",
            f"话术 {script_id} 第 {version} 版",
        ),
    )
