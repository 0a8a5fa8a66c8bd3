"""The sessions the registry tests work in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant


@pytest.fixture
def sup(client: Any, tokens: dict[str, str]) -> Tenant:
    """A supervisor's session with nothing built."""
    return Tenant(client, tokens)


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=12)
