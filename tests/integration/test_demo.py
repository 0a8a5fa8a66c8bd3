"""The demo tenant that `make run` loads is a working example: the README's two checks."""

from __future__ import annotations

from typing import Any

from gateway.core.settings import Settings
from gateway.demo import load_demo
from tests.support.headers import bearer

# The two checks the README shows.
README_ALLOWED = {
    "callee": "13812345678",
    "caller_id": "4008001234",
    "agent_id": "A1001",
    "campaign_id": "term-life-q4",
    "script_id": "term-life-intro",
    "script_version": 3,
    "purpose": "marketing",
    "list_id": "leads-2026-11",
}
README_DENIED = {
    "callee": "139 1234 5678",
    "caller_id": "010-66668888",
    "agent_id": "A1002",
    "campaign_id": "term-life-q4",
    "script_id": "term-life-intro",
    "script_version": 4,
    "purpose": "marketing",
    "list_id": "leads-2026-11",
}


async def test_demo_loads_twice_and_answers_the_readme_examples(
    settings: Settings, make_client: Any, clock: Any, capsys: Any
) -> None:
    assert await load_demo(settings) == 0
    first = capsys.readouterr().out
    assert await load_demo(settings) == 0
    second = capsys.readouterr().out
    assert "(0 new registry rows)" in second
    assert "(0 new registry rows)" not in first
    dialer = [line.split()[-1] for line in second.splitlines() if line.strip().startswith("dialer")]
    client = await make_client(settings, clock)
    resp = await client.post("/v1/precheck", json=README_ALLOWED, headers=bearer(dialer[0]))
    allowed = await resp.json()
    assert allowed["decision"] == "allow", allowed
    resp = await client.post("/v1/precheck", json=README_DENIED, headers=bearer(dialer[0]))
    denied = await resp.json()
    assert {r["code"] for r in denied["reasons"]} == {
        "dnc_listed",
        "caller_id_not_registered",
        "script_not_approved",
        "agent_not_authorized",
    }
