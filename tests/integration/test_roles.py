"""Each role allowed and refused as the contract says, decided before the body is read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.headers import bearer

ROLES = ("dialer", "supervisor", "auditor", "admin")

# (method, path, roles allowed besides admin)
ROUTES = [
    ("POST", "/v1/precheck", {"dialer"}),
    ("POST", "/v1/precheck/simulate", {"supervisor", "auditor"}),
    ("GET", "/v1/caller-ids", {"supervisor", "auditor"}),
    ("POST", "/v1/caller-ids", {"supervisor"}),
    ("POST", "/v1/scripts", {"supervisor"}),
    ("PATCH", "/v1/agents/nobody", {"supervisor"}),
    ("PUT", "/v1/lists/some-list", {"supervisor"}),
    ("GET", "/v1/holidays", {"supervisor", "auditor"}),
    ("GET", "/v1/holidays/years", {"supervisor", "auditor"}),
    ("PUT", "/v1/holidays/years/2027", set()),
    ("GET", "/v1/policy", {"supervisor", "auditor"}),
    ("PUT", "/v1/policy", set()),
    ("GET", "/v1/whoami", {"dialer", "supervisor", "auditor"}),
]


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
@pytest.mark.parametrize("role", ROLES)
async def test_role_matrix(
    client: Any, tokens: dict[str, str], method: str, path: str, allowed: set[str], role: str
) -> None:
    # An empty, invalid body: a permitted role gets past auth to validation (400), a
    # refused one is stopped at 403 before the body is looked at.
    resp = await client.request(
        method,
        path,
        data=b"{",
        headers={**bearer(tokens[role]), "Content-Type": "application/json"},
    )
    if role == "admin" or role in allowed:
        assert resp.status not in (401, 403), (method, path, role, await resp.text())
    else:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"


@pytest.mark.parametrize(("method", "path", "allowed"), ROUTES)
async def test_no_token_is_401_before_validation(
    client: Any, method: str, path: str, allowed: set[str]
) -> None:
    resp = await client.request(method, path, data=b"{")
    assert resp.status == 401
