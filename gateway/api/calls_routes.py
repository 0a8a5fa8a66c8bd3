"""What happens after a check: call events, the recording, a legal hold. The policies sold
on a call and its disputes are in `evidence_routes`."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec
from aiohttp import web

from gateway.api.changes import check_when
from gateway.api.routing import Routes, json_response, principal, read_json, upload_chunks
from gateway.appkeys import CALL_EVENTS, CALLS, CLOCK, RECORDINGS
from gateway.core.errors import (
    CallDenied,
    Conflict,
    InvalidRecording,
    InvalidState,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    TooLarge,
    UnsupportedMediaType,
)
from gateway.services.call_events import CallEvent
from gateway.services.recordings import Playback
from gateway.store.recording_storage import CHUNK, EXTENSIONS

routes = Routes()


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
    also=((200, "the same event reported again: the first answer, marked duplicate"),),
    summary="Report what happened on a call (dialed, answered, ended, opt_out, complaint, "
    "visit_completed); 409 call_denied for a call the gateway denied (recorded as a "
    "violation); a complaint opens a dispute",
    errors=(
        NotFound,
        CallDenied,
        InvalidState,
    ),
)
async def post_event(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    event = await read_json(request, CallEvent)
    at = event.at or request.app[CLOCK]()
    check_when("at", at)
    recorded = await request.app[CALL_EVENTS].record(call_id, event, at, principal(request).name)
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


# --- recordings ---------------------------------------------------------------------------


class RecordingStored(msgspec.Struct):
    sha256: str
    size: int
    duration_s: float
    stored: list[str]


@routes.route(
    "PUT",
    "/v1/calls/{call_id}/recording",
    roles=("dialer",),
    response=RecordingStored,
    status=201,
    body_content_types=("audio/wav", "audio/mpeg", "audio/ogg"),
    summary="Upload the call's recording (streamed; stored and synced twice before 201); "
    "422 invalid_recording for a body that is not audio of its content type, with a length",
    errors=(
        NotFound,
        Conflict,
        InvalidRecording,
    ),
)
async def put_recording(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    content_type = request.content_type
    if content_type not in EXTENSIONS:
        raise UnsupportedMediaType(
            f"content type {content_type}: send audio/wav, audio/mpeg or audio/ogg"
        )
    recordings = request.app[RECORDINGS]
    length = request.content_length
    if length is not None and length > recordings.limit:
        raise TooLarge(f"recording is larger than {recordings.limit} bytes")
    stored = await recordings.upload(
        call_id, content_type, upload_chunks(request, CHUNK), principal(request).name
    )
    return json_response(
        RecordingStored(stored.sha256, stored.size, stored.duration_s, ["primary", "backup"]),
        status=201,
    )


@routes.route(
    "GET",
    "/v1/calls/{call_id}/recording",
    roles=("supervisor", "auditor"),
    response_content_type="audio/*",
    summary="Play the recording; HTTP Range requests answer 206 so a player can seek "
    "(each playback is audited)",
    errors=(NotFound, PreconditionFailed, RangeNotSatisfiable),
)
async def get_recording(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    playback = await request.app[RECORDINGS].playback(call_id)
    if playback is None:
        raise NotFound(f"call {call_id} has no recording")
    current = _check_preconditions(request, playback)
    range_header = request.headers.get("Range", "")
    if range_header and not current:
        _check_range(request, range_header, playback.size)
    if not current and (not range_header or range_header.replace(" ", "").startswith("bytes=0-")):
        # A playback starts at the beginning; the player's seeks are part of it. A 304
        # (the player's copy is current) plays nothing.
        await request.app[RECORDINGS].played(
            principal(request).name, call_id, playback, range_header or None
        )
    return web.FileResponse(
        playback.path, headers={"Content-Type": playback.content_type, "Accept-Ranges": "bytes"}
    )


def _check_preconditions(request: web.Request, playback: Playback) -> bool:
    """Decide the conditional headers as the file response will, with the ETag and
    modification time it sends (from the same file): an If-Match or If-Unmodified-Since
    that the recording fails is refused here, with the error envelope, rather than with
    its empty 412. True when the answer will be 304 (If-None-Match, or If-Modified-Since
    without it): the player's copy is current."""
    etag = f"{playback.modified_ns:x}-{playback.size:x}"
    modified = playback.modified_ns / 1e9
    if (tags := request.if_match) is not None:
        if not any(t.value == "*" or (t.value == etag and not t.is_weak) for t in tags):
            raise PreconditionFailed(
                f'If-Match: the recording\'s ETag is "{etag}", which none of the given match'
            )
    elif (since := request.if_unmodified_since) is not None and modified > since.timestamp():
        stored = datetime.fromtimestamp(math.ceil(modified), UTC)  # as Last-Modified says
        raise PreconditionFailed(
            f"If-Unmodified-Since: the recording was stored at "
            f"{stored.isoformat(timespec='seconds')}, later"
        )
    if (tags := request.if_none_match) is not None:
        return any(t.value in ("*", etag) for t in tags)
    since = request.if_modified_since
    return since is not None and modified <= since.timestamp()


def _check_range(request: web.Request, header: str, size: int) -> None:
    """A Range the file cannot answer is refused here, with the error envelope, rather than
    by the file response with an empty body."""
    try:
        wanted = request.http_range
    except ValueError as e:
        raise RangeNotSatisfiable(
            f"Range {header!r}: {e}; send one range, bytes=first-last, bytes=first- or "
            f"bytes=-count",
            size=size,
        ) from e
    if wanted.start is not None and wanted.start >= size:  # a suffix's start is < 0
        raise RangeNotSatisfiable(
            f"Range {header!r} starts at or after the end of the recording ({size} bytes)",
            size=size,
        )


# --- legal hold -------------------------------------------------------------------------


class HoldIn(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    hold: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


@routes.route(
    "PUT",
    "/v1/calls/{call_id}/hold",
    roles=("supervisor",),
    body=HoldIn,
    summary="Set or lift a legal hold: a held call's recording is never deleted",
    errors=(NotFound,),
)
async def set_hold(request: web.Request) -> web.StreamResponse:
    call_id = call_id_of(request)
    body = await read_json(request, HoldIn)
    who = principal(request).name
    await request.app[CALLS].set_hold(who, call_id, body.hold, body.reason)
    return json_response(
        {"call_id": str(call_id), "hold": body.hold, "reason": body.reason, "set_by": who}
    )
