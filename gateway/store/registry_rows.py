"""Registry rows in PostgreSQL, and building the in-memory snapshot from them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

import asyncpg
import msgspec

from gateway.core.aliases import Conn, Db
from gateway.policy import (
    DEFAULT_POLICY,
    Agent,
    CallerId,
    Campaign,
    DayType,
    NumberSet,
    PolicyDocument,
    Script,
    clamp_stored,
)

log = logging.getLogger("gateway.registries")

REGISTRY_CHANNEL = "gateway_registry"


async def bump(conn: Conn, part: str) -> int:
    """Mark a registry change inside the caller's transaction: a new version, and a
    notification every gateway process receives when the transaction commits."""
    version: int = await conn.fetchval(
        "UPDATE registry_state SET version = version + 1 RETURNING version"
    )
    await conn.execute("SELECT pg_notify($1, $2)", REGISTRY_CHANNEL, part)
    return version


async def version(conn: Db) -> int:
    v: int = await conn.fetchval("SELECT version FROM registry_state")
    return v


async def load_policy(conn: Db) -> PolicyDocument:
    """The stored policy; a number stored out of bounds (saved before the bounds existed)
    is used at its nearest bound, with a warning, rather than stopping every reload."""
    doc = await conn.fetchval("SELECT document FROM policy_document")
    if doc is None:
        return DEFAULT_POLICY
    doc, clamped = clamp_stored(doc)
    for c in clamped:
        log.warning(
            "the stored policy has %s %s, outside its bounds: %s is used until the admin "
            "saves the policy again (PUT /v1/policy)",
            c.field,
            c.stored,
            c.used,
            extra={"fields": {"field": c.field, "stored": c.stored, "used": c.used}},
        )
    return msgspec.convert(doc, PolicyDocument)


async def load_caller_ids(conn: Db) -> dict[str, CallerId]:
    rows = await conn.fetch("SELECT number, purposes, provinces, active FROM caller_ids")
    return {
        r["number"]: CallerId(
            number=r["number"],
            purposes=frozenset(r["purposes"]),
            provinces=None if r["provinces"] is None else frozenset(r["provinces"]),
            active=r["active"],
        )
        for r in rows
    }


async def load_scripts(conn: Db) -> dict[tuple[str, int], Script]:
    rows = await conn.fetch(
        "SELECT script_id, version, status, filing_ref, discloses_identity FROM scripts"
    )
    return {
        (r["script_id"], r["version"]): Script(
            script_id=r["script_id"],
            version=r["version"],
            status=r["status"],
            filing_ref=r["filing_ref"],
            discloses_identity=r["discloses_identity"],
        )
        for r in rows
    }


async def _agent_customers(conn: Db, agent_id: str | None) -> dict[str, NumberSet]:
    if agent_id is None:
        rows = await conn.fetch("SELECT agent_id, number FROM agent_customers ORDER BY agent_id")
    else:
        rows = await conn.fetch(
            "SELECT agent_id, number FROM agent_customers WHERE agent_id = $1", agent_id
        )
    grouped: dict[str, list[str]] = {}
    for r in rows:
        grouped.setdefault(r["agent_id"], []).append(r["number"])
    return {k: NumberSet.of(v) for k, v in grouped.items()}


async def load_agents(conn: Db, agent_id: str | None = None) -> dict[str, Agent]:
    query = (
        "SELECT agent_id, name, licence_valid_until, training_valid_until, purposes, active, "
        "kind FROM agents"
    )
    rows = (
        await conn.fetch(query)
        if agent_id is None
        else await conn.fetch(query + " WHERE agent_id = $1", agent_id)
    )
    customers = await _agent_customers(conn, agent_id)
    empty = NumberSet.of(())
    return {
        r["agent_id"]: Agent(
            agent_id=r["agent_id"],
            name=r["name"],
            licence_valid_until=r["licence_valid_until"],
            training_valid_until=r["training_valid_until"],
            purposes=frozenset(r["purposes"]),
            active=r["active"],
            customers=customers.get(r["agent_id"], empty),
            kind=r["kind"],
        )
        for r in rows
    }


async def load_campaigns(conn: Db) -> dict[str, Campaign]:
    rows = await conn.fetch(
        "SELECT campaign_id, purpose, script_ids, caller_ids, list_ids, starts_at, ends_at, "
        "active, product_type FROM campaigns"
    )
    return {
        r["campaign_id"]: Campaign(
            campaign_id=r["campaign_id"],
            purpose=r["purpose"],
            script_ids=frozenset(r["script_ids"]),
            caller_ids=frozenset(r["caller_ids"]),
            list_ids=frozenset(r["list_ids"]),
            starts_at=r["starts_at"],
            ends_at=r["ends_at"],
            active=r["active"],
            product_type=r["product_type"],
        )
        for r in rows
    }


async def load_lists(conn: Db, list_id: str | None = None) -> dict[str, NumberSet]:
    if list_id is None:
        ids = [r["list_id"] for r in await conn.fetch("SELECT list_id FROM call_lists")]
    else:
        ids = [list_id]
    out: dict[str, NumberSet] = {}
    for lid in ids:
        exists = await conn.fetchval("SELECT 1 FROM call_lists WHERE list_id = $1", lid)
        if exists is None:
            continue
        rows = await conn.fetch("SELECT number FROM call_list_numbers WHERE list_id = $1", lid)
        out[lid] = NumberSet.of(r["number"] for r in rows)
    return out


async def load_staff_numbers(conn: Db) -> frozenset[str]:
    return frozenset(r["number"] for r in await conn.fetch("SELECT number FROM staff_numbers"))


async def load_holidays(conn: Db) -> dict[date, DayType]:
    return {r["day"]: r["kind"] for r in await conn.fetch("SELECT day, kind FROM holidays")}


async def load_complete_years(conn: Db) -> frozenset[int]:
    """The years an admin has declared entered in full."""
    rows = await conn.fetch("SELECT year FROM holiday_years WHERE complete")
    return frozenset(r["year"] for r in rows)


def row_dict(row: asyncpg.Record | None) -> dict[str, Any] | None:
    """A row as plain JSON-able values, for answers and audit entries."""
    if row is None:
        return None
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, date):
            out[key] = value.isoformat()
        elif isinstance(value, list):
            out[key] = list(value)
        else:
            out[key] = value
    return out


def merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    out.update(changes)
    return out
