"""Rule `script`: a filed script version, assigned to the campaign, with the disclosure step.

Marketing and appointment calls need one; callback and service calls are held to it
only when they name a script.
"""

from __future__ import annotations

from gateway.policy.context import CallContext
from gateway.policy.types import SELLING_PURPOSES, Reason, reason

_STATUS_PROBLEMS = {
    "draft": "is a draft, not filed",
    "approved": "is approved but not filed",
    "retired": "is retired",
}


def check(ctx: CallContext) -> tuple[Reason, ...]:
    request = ctx.request
    purpose = request.purpose
    script_id, version = request.script_id, request.script_version
    if script_id is None:
        if purpose in SELLING_PURPOSES:
            return (reason("script_not_approved", f"a {purpose} call needs a script"),)
        return ()
    if version is None:
        return (reason("script_not_approved", f"script {script_id} is named without a version"),)
    problems: list[str] = []
    script = ctx.snapshot.scripts.get((script_id, version))
    if script is None:
        problems.append("is not registered")
    else:
        status_problem = _STATUS_PROBLEMS.get(script.status)
        if status_problem is not None:
            problems.append(status_problem)
        elif not script.filing_ref:
            problems.append("is filed without a filing reference")
        if purpose == "marketing" and not script.discloses_identity:
            problems.append("lacks the step where the seller states name and job number")
    campaign_id = request.campaign_id
    campaign = ctx.snapshot.campaigns.get(campaign_id) if campaign_id else None
    if campaign is not None and script_id not in campaign.script_ids:
        problems.append(f"is not among campaign {campaign.campaign_id}'s scripts")
    if not problems:
        return ()
    return (reason("script_not_approved", f"script {script_id} v{version} " + "; ".join(problems)),)
