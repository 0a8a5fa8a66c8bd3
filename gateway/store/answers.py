"""The pre-call check's answer, and how a dialer's retry gets it again.

A check that carries a `request_id` leaves its answer in Redis for a day under the
token's id and the request_id, with a hash of the request: a retry with the same body
gets the same bytes back, one with another body a conflict. Redis is a cache: when it
has lost its data, the answers are put back from the decisions stored in PostgreSQL,
which hold everything an answer is made of, the rule code's revision included: a retry
gets the revision the decision was made with, not the running one.

Answers have carried `rules_revision` since migration 019; a decision stored before it has
none (NULL), and its answer is put back as it was then, without the field."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any, Protocol

import msgspec

from gateway.policy import CheckRequest, Reason, completed
from gateway.policy.context import callee_zone
from gateway.policy.numbers import parse_callee

IDEMPOTENCY_SECONDS = 24 * 3600
# What of a row of `calls` an answer is made from, as replay_from_decision reads it; and
# the decisions whose answers a retry gets (those denied because Redis was unreachable
# bind nothing).
ANSWER_COLUMNS = (
    "call_id::text AS call_id, created_at, decision, reasons::text AS reasons, "
    "request::text AS request, callee_e164, policy_version, valid_until, rules_revision"
)
BINDING = """NOT reasons @> '[{"code": "gateway_degraded"}]'"""


class AnswerWithoutRevision(msgspec.Struct, kw_only=True):
    """An answer as the check gave it before answers named their rule code: only to put
    back, byte for byte, the answer of a decision stored without `rules_revision`."""

    decision: str
    call_id: str | None
    callee_e164: str | None
    reasons: tuple[Reason, ...]
    recording_required: bool
    valid_until: datetime
    policy_version: str


class PrecheckAnswer(AnswerWithoutRevision, kw_only=True):
    """The pre-call check's answer (and simulate's). `policy_version` names the registry
    snapshot it was judged against, `rules_revision` the rule code that judged it."""

    rules_revision: str


encode = msgspec.json.Encoder().encode
_request = msgspec.json.Decoder(CheckRequest)
_reasons = msgspec.json.Decoder(tuple[Reason, ...])


def body_hash(encoded: bytes) -> str:
    """Of a request's JSON: a retry with the same request_id must carry the same body."""
    return hashlib.sha256(encoded).hexdigest()[:32]


def ms_left(created_at: datetime, now: datetime) -> int:
    """How long a decision's answer is still kept for retries, in ms (a day from the
    decision, and never more than a day, whatever clock the storing process had)."""
    day = IDEMPOTENCY_SECONDS * 1000
    return min((created_at - now) // timedelta(milliseconds=1) + day, day)


def replay_value(digest: str, body: bytes) -> bytes:
    """What Redis keeps for an answered request_id (the check script reads it back)."""
    return b"D|" + digest.encode() + b"|" + body


class Row(Protocol):
    """A row as asyncpg gives it (or a dict): columns by name."""

    def __getitem__(self, key: str, /) -> Any: ...


def replay_from_decision(row: Row) -> bytes:
    """The Redis value of a stored decision's answer, byte for byte as the check made it,
    from its row of `calls` (the columns of ANSWER_COLUMNS): the request decoded and
    encoded again gives the bytes it was hashed as (a struct encodes its fields in order,
    whatever order PostgreSQL keeps JSON keys in). The rule code's revision is the row's,
    whatever code runs now; a row without one (stored before answers carried it) gives the
    answer without the field, as it was sent. Raises msgspec's ValidationError or
    DecodeError for a row no check wrote."""
    request = _request.decode(row["request"])
    fields: dict[str, Any] = {
        "decision": row["decision"],
        "call_id": row["call_id"],
        "callee_e164": row["callee_e164"],
        "reasons": tuple(completed(r) for r in _reasons.decode(row["reasons"])),
        "recording_required": True,
        # In the zone the check judged hours in, as its answer gave it.
        "valid_until": row["valid_until"].astimezone(callee_zone(parse_callee(request.callee))),
        "policy_version": row["policy_version"],
    }
    revision = row["rules_revision"]
    answer = (
        AnswerWithoutRevision(**fields)
        if revision is None
        else PrecheckAnswer(**fields, rules_revision=revision)
    )
    return replay_value(body_hash(encode(request)), encode(answer))
