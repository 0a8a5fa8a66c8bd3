"""Migration 021 on registries written before it: no row is lost, agents are call-centre
staff, campaigns sell ordinary products, and an active caller id without a publication
date keeps working with its registration time as that date."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from gateway.store import postgres
from gateway.store.postgres import available_migrations, migrate
from tests.support.databases import ADMIN_URL, db_url

pytestmark = pytest.mark.asyncio

REGISTERED = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PUBLISHED = datetime(2024, 12, 1, tzinfo=UTC)


@pytest.fixture
async def before_021(
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[tuple[str, asyncpg.Connection]]:
    """A database migrated up to 021 (not included), with registries in it: its URL and a
    connection to it."""
    name = f"gwtest_mig021_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = db_url(name)
    every = available_migrations()
    try:
        monkeypatch.setattr(
            postgres, "available_migrations", lambda: [m for m in every if m.number < 21]
        )
        await migrate(url)
        monkeypatch.setattr(postgres, "available_migrations", lambda: every)
        conn = await asyncpg.connect(url)
        await _registries_of_old(conn)
        try:
            yield url, conn
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _registries_of_old(conn: asyncpg.Connection) -> None:
    await conn.executemany(
        "INSERT INTO caller_ids (number, purposes, published_at, active, created_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        [
            ("+864008001234", ["marketing"], None, True, REGISTERED),
            ("+864008005678", ["marketing"], PUBLISHED, True, REGISTERED),
            ("+864008009999", ["service"], None, False, REGISTERED),
            ("+8613812345678", ["marketing"], None, True, REGISTERED),  # a mobile
        ],
    )
    await conn.execute(
        "INSERT INTO agents (agent_id, name, licence_no, licence_valid_until, "
        "training_valid_until, purposes) VALUES ('A1', '王芳', 'L1', '2030-01-01', "
        "'2030-01-01', '{marketing,appointment}')"
    )
    await conn.execute(
        "INSERT INTO campaigns (campaign_id, purpose, script_ids, caller_ids, list_ids) "
        "VALUES ('c1', 'marketing', '{}', '{}', '{}')"
    )


async def test_old_registries_come_through_the_migration_whole(
    before_021: tuple[str, asyncpg.Connection],
) -> None:
    url, conn = before_021
    callers_before = await conn.fetch("SELECT * FROM caller_ids ORDER BY number")
    applied = await migrate(url)
    assert [a for a in applied if a.startswith("021_")] == ["021_purposes_are_no_loophole.sql"]

    callers = {r["number"]: r for r in await conn.fetch("SELECT * FROM caller_ids")}
    assert sorted(callers) == [r["number"] for r in callers_before]
    # Active without a date: published when registered. Dated or inactive: unchanged.
    assert callers["+864008001234"]["published_at"] == REGISTERED
    assert callers["+864008005678"]["published_at"] == PUBLISHED
    assert callers["+864008009999"]["published_at"] is None
    assert not callers["+864008009999"]["active"]
    # The mobile row is kept as it was (the check refuses to present it).
    assert callers["+8613812345678"]["active"]
    for before in callers_before:
        after = callers[before["number"]]
        assert {k: after[k] for k in before.keys() if k != "published_at"} == {
            k: before[k] for k in before.keys() if k != "published_at"
        }

    assert await conn.fetchval("SELECT kind FROM agents WHERE agent_id = 'A1'") == "telesales"
    assert (
        await conn.fetchval("SELECT product_type FROM campaigns WHERE campaign_id = 'c1'")
        == "ordinary"
    )


async def test_after_the_migration_the_tables_refuse_what_the_rules_refuse(
    before_021: tuple[str, asyncpg.Connection],
) -> None:
    url, conn = before_021
    await migrate(url)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(
            "INSERT INTO caller_ids (number, purposes, active) VALUES ('+864008002222', "
            "'{marketing}', true)"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE agents SET kind = 'broker'")
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE campaigns SET product_type = 'annuity'")
