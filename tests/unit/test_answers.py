"""How a stored decision's answer is made again for a retry: with the rule code's
revision the decision was stored with, or, for a decision stored before answers carried
one, without it, byte for byte as it was answered."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from gateway.policy import CheckRequest
from gateway.store.answers import body_hash, encode, replay_from_decision, replay_value

REQUEST = {
    "callee": "13812345678",
    "caller_id": "4008001234",
    "agent_id": "A1",
    "purpose": "service",
}


def row(revision: str | None) -> dict[str, object]:
    return {
        "call_id": "01a20621-ad00-74c9-a10b-b0bbc0ffd6db",
        "created_at": datetime(2026, 11, 23, 2, tzinfo=UTC),
        "decision": "allow",
        "reasons": "[]",
        "request": msgspec.json.encode(REQUEST).decode(),
        "callee_e164": "+8613812345678",
        "policy_version": "r2",
        "valid_until": datetime(2026, 11, 23, 2, 1, tzinfo=UTC),
        "rules_revision": revision,
    }


digest = body_hash(encode(msgspec.convert(REQUEST, CheckRequest)))

ANSWER = (
    b'{"decision":"allow","call_id":"01a20621-ad00-74c9-a10b-b0bbc0ffd6db",'
    b'"callee_e164":"+8613812345678","reasons":[],"recording_required":true,'
    b'"valid_until":"2026-11-23T10:01:00+08:00","policy_version":"r2"'
)


def test_a_stored_decision_is_answered_with_its_own_revision() -> None:
    assert replay_from_decision(row("0.0.9+0123456789ab")) == replay_value(
        digest, ANSWER + b',"rules_revision":"0.0.9+0123456789ab"}'
    )


def test_a_decision_stored_without_a_revision_is_answered_without_one() -> None:
    assert replay_from_decision(row(None)) == replay_value(digest, ANSWER + b"}")
