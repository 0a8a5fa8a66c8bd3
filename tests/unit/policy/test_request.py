from __future__ import annotations

import msgspec
import pytest

from gateway.policy import CheckRequest, missing_fields

from .world import ALL_PURPOSES, request


@pytest.mark.parametrize(
    ("purpose", "missing"),
    [
        ("marketing", ["campaign_id", "script_id", "script_version", "list_id"]),
        ("appointment", ["campaign_id", "script_id", "script_version"]),
        ("callback", []),
        ("service", []),
    ],
)
def test_missing_fields_by_purpose(purpose, missing):
    bare = CheckRequest(
        callee="13812345678", caller_id="4008001234", agent_id="A1", purpose=purpose
    )
    assert missing_fields(bare) == missing


@pytest.mark.parametrize("purpose", ALL_PURPOSES)
def test_complete_requests_miss_nothing(purpose):
    assert missing_fields(request(purpose)) == []


def test_the_api_example_body_decodes():
    body = (
        b'{"callee": "13812345678", "caller_id": "4008001234", "agent_id": "A1001",'
        b' "campaign_id": "term-life-q4", "script_id": "term-life-intro", "script_version": 3,'
        b' "purpose": "marketing", "list_id": "leads-2026-11", "request_id": "7d1c",'
        b' "sold_by_agent_id": null}'
    )
    req = msgspec.json.decode(body, type=CheckRequest)
    assert req.script_version == 3 and req.sold_by_agent_id is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"callee": "1", "caller_id": "1", "agent_id": "A", "purpose": "spam"}', "purpose"),
        (b'{"callee": "", "caller_id": "1", "agent_id": "A", "purpose": "service"}', "callee"),
        (b'{"caller_id": "1", "agent_id": "A", "purpose": "service"}', "callee"),
        (
            b'{"callee": "1", "caller_id": "1", "agent_id": "' + b"A" * 65 + b'", '
            b'"purpose": "service"}',
            "agent_id",
        ),
        (
            b'{"callee": "1", "caller_id": "1", "agent_id": "A", "purpose": "service", '
            b'"script_version": 0}',
            "script_version",
        ),
        (b'{"callee": 138, "caller_id": "1", "agent_id": "A", "purpose": "service"}', "callee"),
    ],
)
def test_bad_fields_are_refused_when_decoded_and_named(body, field):
    with pytest.raises(msgspec.ValidationError, match=field):
        msgspec.json.decode(body, type=CheckRequest)
