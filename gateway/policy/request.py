"""The pre-call check request, as the dialer sends it."""

from __future__ import annotations

from typing import Annotated

import msgspec

from gateway.policy.types import Purpose

NumberText = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
RequestId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Version = Annotated[int, msgspec.Meta(ge=1)]


class CheckRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The body of `POST /v1/precheck`."""

    callee: NumberText
    caller_id: NumberText
    agent_id: Identifier
    purpose: Purpose
    campaign_id: Identifier | None = None
    script_id: Identifier | None = None
    script_version: Version | None = None
    list_id: Identifier | None = None
    request_id: RequestId | None = None
    sold_by_agent_id: Identifier | None = None
    policy_no: Identifier | None = None  # callback: the policy the return visit is for


# The fields a purpose requires beyond those every check has (not null when given). The
# OpenAPI document states the same rule, from this table.
REQUIRED_BY_PURPOSE: dict[str, tuple[str, ...]] = {
    "marketing": ("campaign_id", "script_id", "script_version", "list_id"),
    "appointment": ("campaign_id", "script_id", "script_version"),
}


def missing_fields(req: CheckRequest) -> list[str]:
    """The fields the purpose requires that the request leaves out."""
    needed = REQUIRED_BY_PURPOSE.get(req.purpose, ())
    return [name for name in needed if getattr(req, name) is None]
