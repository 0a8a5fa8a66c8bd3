"""What keeps a call's evidence: the policies sold on it, the policy a return visit
visited, the return visits due, and disputes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from aiohttp import web
from msgspec import UNSET, Meta, UnsetType

from gateway.api.calls_routes import call_id_of
from gateway.api.changes import check_when
from gateway.api.routing import (
    IdCursor,
    Limit,
    Page,
    Routes,
    convert_query,
    json_response,
    path_bigint,
    principal,
    read_json,
)
from gateway.appkeys import DISPUTES, POLICIES, RETURN_VISITS
from gateway.core.errors import (
    Conflict,
    Forbidden,
    InvalidRequest,
    InvalidState,
    NotFound,
)

routes = Routes()

# A policy number: printable, no control characters (NUL cannot be stored).
PolicyNo = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")]
TermMonths = Annotated[int, Meta(ge=1, le=1200)]
Reason = Annotated[str, Meta(min_length=1, max_length=500)]


def _times(**times: datetime | UnsetType | None) -> None:
    for name, value in times.items():
        if isinstance(value, datetime):
            check_when(name, value)
            if not 1970 <= value.year <= 2199:
                raise InvalidRequest(f"{name}: out of range (years 1970-2199)")


# --- policies sold on a call --------------------------------------------------------------


class SaleIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    policy_no: PolicyNo
    term_months: TermMonths
    terminated_at: datetime | UnsetType | None = UNSET
    signed_at: datetime | None = None


class SaleOut(msgspec.Struct, kw_only=True):
    call_id: str
    policy_no: str
    term_months: int
    terminated_at: datetime | None
    signed_at: datetime
    retention_until: datetime | None
    exception: str | None
    return_visit_due_by: datetime | None


@routes.route(
    "POST",
    "/v1/calls/{call_id}/policy",
    roles=("dialer", "supervisor"),
    body=SaleIn,
    response=SaleOut,
    status=201,
    also=((200, "the same policy linked again with the same terms"),),
    summary="Link a policy sold on this call (one per policy_no; 201 linked, 200 when the "
    "same policy is linked again with the same terms); the call's retention follows the "
    "longest-lived of its policies. A term or termination other than the linked policy's "
    "is 403: a supervisor changes them with PATCH /v1/policies/{policy_no}",
    errors=(NotFound, Conflict, Forbidden),
)
async def link_policy(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    body = await read_json(request, SaleIn)
    _times(terminated_at=body.terminated_at, signed_at=body.signed_at)
    linked = await request.app[POLICIES].link(
        principal(request).name,
        call_id,
        body.policy_no,
        body.term_months,
        body.terminated_at,
        body.signed_at,
    )
    answer = SaleOut(
        call_id=str(call_id),
        policy_no=linked.policy_no,
        term_months=linked.term_months,
        terminated_at=linked.terminated_at,
        signed_at=linked.signed_at,
        retention_until=linked.retention_until,
        exception=linked.exception,
        return_visit_due_by=linked.return_visit_due_by,
    )
    return json_response(answer, status=201 if linked.created else 200)


class PolicyPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    reason: Reason
    term_months: TermMonths | UnsetType = UNSET
    terminated_at: datetime | UnsetType | None = UNSET


def _policy_no(request: web.Request) -> str:
    policy_no = request.match_info["policy_no"]
    if not 1 <= len(policy_no) <= 64 or any(ch < " " or ch == "\x7f" for ch in policy_no):
        raise NotFound(f"no policy {policy_no[:64]!r}")
    return policy_no


@routes.route(
    "PATCH",
    "/v1/policies/{policy_no}",
    roles=("supervisor",),
    body=PolicyPatch,
    body_rules=({"anyOf": [{"required": ["term_months"]}, {"required": ["terminated_at"]}]},),
    summary="Change a linked policy's term or termination (with a reason, audited); "
    "terminated_at once the contract has ended. The answer shows every linked call's "
    "retention date as it now is",
    errors=(NotFound,),
)
async def amend_policy(request: web.Request) -> web.StreamResponse:
    policy_no = _policy_no(request)
    body = await read_json(request, PolicyPatch)
    _times(terminated_at=body.terminated_at)
    view = await request.app[POLICIES].amend(
        principal(request).name, policy_no, body.term_months, body.terminated_at, body.reason
    )
    return json_response(view)


@routes.route(
    "GET",
    "/v1/policies/{policy_no}",
    roles=("supervisor", "auditor"),
    summary="A linked policy: its terms, the calls it was sold on with their retention "
    "dates, its return visit",
    errors=(NotFound,),
)
async def get_policy(request: web.Request) -> web.StreamResponse:
    return json_response(await request.app[POLICIES].get(_policy_no(request)))


class VisitIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    policy_no: PolicyNo
    reason: Reason


@routes.route(
    "PUT",
    "/v1/calls/{call_id}/visited-policy",
    roles=("supervisor",),
    body=VisitIn,
    summary="Name the policy a return visit (callback) visited when its check named none "
    "(audited); its recording is then kept 10 years from the policy's end",
    errors=(NotFound, InvalidState),
)
async def name_visit(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    body = await read_json(request, VisitIn)
    answer = await request.app[POLICIES].name_visit(
        principal(request).name, call_id, body.policy_no, body.reason
    )
    return json_response(answer)


# --- return visits ------------------------------------------------------------------------


class VisitQuery(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["due", "done", "overdue"] | None = None
    cursor: IdCursor | None = None
    limit: Limit = 100


@routes.route(
    "GET",
    "/v1/return-visits",
    roles=("supervisor", "auditor"),
    response=Page,
    query=("status", "cursor", "limit"),
    query_type=VisitQuery,
    summary="Return visits (回访) of policies over a year, newest first: due, done or overdue",
)
async def return_visits(request: web.Request) -> web.StreamResponse:
    q = convert_query(request, VisitQuery)
    items, next_cursor = await request.app[RETURN_VISITS].page(q.status, q.cursor, q.limit)
    return json_response(Page(items, next_cursor))


# --- disputes -----------------------------------------------------------------------------


class DisputeIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["complaint", "litigation", "regulator"]
    ref: Annotated[str, Meta(min_length=1, max_length=200)]


class DisputeClose(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    closed_at: datetime
    note: Annotated[str, Meta(min_length=1, max_length=2000)]


@routes.route(
    "POST",
    "/v1/calls/{call_id}/disputes",
    roles=("supervisor",),
    body=DisputeIn,
    status=201,
    summary="Open a dispute on a call (complaint, litigation, regulator; audited): the "
    "recording is kept while it is open and two years after it closes",
    errors=(NotFound,),
)
async def open_dispute(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    body = await read_json(request, DisputeIn)
    dispute = await request.app[DISPUTES].open(
        principal(request).name, call_id, body.kind, body.ref
    )
    return json_response(dispute, status=201)


@routes.route(
    "PATCH",
    "/v1/disputes/{id}",
    roles=("supervisor",),
    body=DisputeClose,
    summary="Close a dispute (audited); the call's recording is kept two more years",
    errors=(NotFound, InvalidState),
)
async def close_dispute(request: web.Request) -> web.StreamResponse:
    dispute_id = path_bigint(request, "id", "dispute")
    body = await read_json(request, DisputeClose)
    _times(closed_at=body.closed_at)
    dispute = await request.app[DISPUTES].close(
        principal(request).name, dispute_id, body.closed_at, body.note
    )
    return json_response(dispute)
