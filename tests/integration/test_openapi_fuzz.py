"""Schemathesis over the OpenAPI document the gateway serves: every operation, with the
token of a role it admits, with requests that fit the document and requests that do not.
The document must say what the server does: no 500, no status it does not list, answers
that match their schemas."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis import GenerationMode
from schemathesis import checks as base_checks
from schemathesis.specs.openapi import checks as openapi_checks

from gateway.core.settings import Settings
from tests.conftest import Serve
from tests.support.clock import Clock
from tests.support.headers import bearer

# Examples per operation and generation mode: about 60 operations, each twice, so the run
# stays near a minute on a busy two-core machine.
EXAMPLES = 8

CHECKS = [
    base_checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]

# Server bugs the fuzzer finds that are being fixed elsewhere (input decoding, dates out of
# range, recordings, CSV): (operation, check) pairs skipped until those fixes land.
KNOWN: dict[tuple[str, str], str] = {}


@schemathesis.serializer("audio/wav", "audio/mpeg", "audio/ogg")
def _audio(ctx: Any, value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _token_for(roles: list[str], tokens: dict[str, str]) -> dict[str, str]:
    """A token of the first role the route admits (admin only where no other is)."""
    for role in ("dialer", "supervisor", "auditor", "admin"):
        if role in roles:
            return bearer(tokens[role])
    return {}


def _fuzz(base: str, tokens: dict[str, str]) -> dict[str, set[str]]:
    schema = schemathesis.openapi.from_url(base + "/openapi.json")
    found: dict[str, set[str]] = defaultdict(set)
    for result in schema.get_all_operations():
        op = result.ok()
        raw = op.definition.raw
        headers = _token_for(raw.get("x-roles", []), tokens)
        _run(op, GenerationMode.POSITIVE, base, headers, found)
        if raw.get("parameters") or "requestBody" in raw:  # else nothing can be wrong
            _run(op, GenerationMode.NEGATIVE, base, headers, found)
    return found


def _run(op: Any, mode: GenerationMode, base: str, headers: dict[str, str], found: Any) -> None:
    label = op.label

    @hypothesis_settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(op.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(base_url=base, headers=headers, timeout=30)
        for check in CHECKS:
            if (label, check.__name__) in KNOWN:
                continue
            try:
                case.validate_response(response, checks=[check], headers=headers)
            except BaseExceptionGroup as e:  # schemathesis's FailureGroup
                text = str(e).split("Reproduce with")[0].strip()
                found[label].add(f"{mode} {check.__name__}: {text[:800]}")

    run()


@pytest.mark.timeout(600)
async def test_schemathesis_finds_nothing_the_document_does_not_say(
    serve_gateway: Serve, settings: Settings, clock: Clock, tokens: dict[str, str]
) -> None:
    host, port = await serve_gateway(settings, clock)
    found = await asyncio.to_thread(_fuzz, f"http://{host}:{port}", tokens)
    report = "\n".join(f"{op}:\n  " + "\n  ".join(sorted(f)) for op, f in sorted(found.items()))
    assert not found, report
