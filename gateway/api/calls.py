"""Call events reported by the dialer."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from aiohttp import web

from gateway.api.changes import check_when
from gateway.api.routing import Routes, json_response, principal, read_json
from gateway.appkeys import CALL_EVENTS, CLOCK
from gateway.calls import CallEvent, UnknownCall
from gateway.errors import ApiError, NotFound

routes = Routes()


class CallDenied(ApiError):
    status = 409
    code = "call_denied"


class EventAnswer(msgspec.Struct, kw_only=True):
    event_id: int
    call_id: str
    type: str
    at: datetime
    duplicate: bool
    violation: str | None
    dnc_listed: bool


def call_id_of(request: web.Request) -> uuid.UUID:
    raw = request.match_info["call_id"]
    try:
        return uuid.UUID(raw)
    except ValueError as e:
        raise NotFound(f"no call {raw}") from e


@routes.route(
    "POST",
    "/v1/calls/{call_id}/events",
    roles=("dialer",),
    body=CallEvent,
    response=EventAnswer,
    status=201,
    summary="Report what happened on a call (dialed, answered, ended, opt_out, complaint); "
    "409 call_denied for a call the gateway denied (recorded as a violation)",
)
async def post_event(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    event = await read_json(request, CallEvent)
    at = event.at or request.app[CLOCK]()
    check_when("at", at)
    try:
        recorded = await request.app[CALL_EVENTS].record(
            call_id, event, at, principal(request).name
        )
    except UnknownCall as e:
        raise NotFound(f"no call {call_id}; events need the call_id of a precheck") from e
    if recorded.call_decision == "deny":
        listed = " the customer's opt-out was recorded;" if recorded.listed else ""
        raise CallDenied(
            f"call {call_id} was denied by the gateway and must not have been placed;"
            f"{listed} the call is recorded as a violation"
        )
    answer = EventAnswer(
        event_id=recorded.event_id,
        call_id=str(call_id),
        type=event.type,
        at=at,
        duplicate=recorded.duplicate,
        violation=recorded.violation,
        dnc_listed=recorded.listed,
    )
    return json_response(answer, status=200 if recorded.duplicate else 201)
