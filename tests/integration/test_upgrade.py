"""A database made by an older release keeps every row, with its values, when upgraded to
the newest migration.

The database is created at migration 019 and filled through the SQL of that version
(every table, rows of each kind), then upgraded. Every row must still be there with every
value it had, except what a later migration changes on purpose: each migration after 019
has an `Upgrade` entry below naming the columns it rewrites or the tables it replaces, and
a check that asserts what they became (agents get a kind, campaigns a product type, ...).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from gateway.store import audit
from gateway.store.postgres import available_migrations, connect, migrate
from tests.support.databases import ADMIN_URL, db_url

BASE = 19  # the release whose database is upgraded

CALL_ALLOWED = "0190a5b0-0000-7000-8000-000000000001"
CALL_DENIED = "0190a5b0-0000-7000-8000-000000000002"
CALL_OLD = "0190a5b0-0000-7000-8000-000000000003"  # checked before rules_revision existed
SCRUB_JOB = "0190a5b0-0000-7000-8000-0000000000a1"

SEED = [
    """INSERT INTO api_tokens (token_id, name, role, secret_hash, created_at, revoked_at)
       VALUES ('t1', 'dialer-site-1', 'dialer', '\\x0102', '2026-01-02T03:04:05Z', NULL),
              ('t0', 'dialer-site-1', 'dialer', '\\x0506', '2025-06-01T00:00:00Z', NULL),
              ('t2', 'old-auditor', 'auditor', '\\x0304', '2025-01-02T03:04:05Z',
               '2026-01-01T00:00:00Z')""",
    "UPDATE registry_state SET version = 42",
    """INSERT INTO policy_document (id, document, updated_at, updated_by)
       VALUES (true, '{"hours": {"workday": [{"start": "09:00", "end": "20:00"}]},
                       "retention": {"no_sale_days": 1095}}', '2026-02-01T00:00:00Z', 'admin')""",
    """INSERT INTO caller_ids (number, purposes, provinces, published_at, active)
       VALUES ('+864008001234', '{marketing,appointment}', NULL, '2026-01-01T00:00:00Z', true),
              ('+862162345678', '{callback}', '{上海}', NULL, false),
              ('+861062345678', '{service}', NULL, NULL, true),
              ('+8613812340000', '{marketing}', NULL, NULL, true)""",
    """INSERT INTO scripts (script_id, version, title, text, status, filing_ref,
                            discloses_identity)
       VALUES ('term-life', 1, 'intro', '您好，我是……', 'filed', 'REF-2026-1', true),
              ('term-life', 2, 'intro v2', '您好', 'draft', NULL, false)""",
    """INSERT INTO agents (agent_id, name, licence_no, licence_valid_until,
                           training_valid_until, purposes, active)
       VALUES ('A1001', '王芳', 'L-001', '2030-12-31', '2027-06-30', '{marketing,appointment}',
               true),
              ('B2002', '李强', 'L-002', '2026-12-31', '2026-12-31', '{callback}', false)""",
    """INSERT INTO agent_customers (agent_id, number)
       VALUES ('A1001', '+8613912345678'), ('A1001', '+861062345678')""",
    """INSERT INTO call_lists (list_id, provenance, approved_by, size)
       VALUES ('leads-2026-11', 'bought from a licensed broker', 'ops-supervisor', 2)""",
    """INSERT INTO call_list_numbers (list_id, number)
       VALUES ('leads-2026-11', '+8613912345678'), ('leads-2026-11', '+8613812345678')""",
    """INSERT INTO campaigns (campaign_id, purpose, script_ids, caller_ids, list_ids,
                              starts_at, ends_at, active)
       VALUES ('term-life-q4', 'marketing', '{term-life}', '{+864008001234}', '{leads-2026-11}',
               '2026-10-01T00:00:00+08', '2027-01-01T00:00:00+08', true),
              ('appt', 'appointment', '{term-life}', '{}', '{}', NULL, NULL, false)""",
    """INSERT INTO staff_numbers (number, note, created_by)
       VALUES ('+8613700001111', 'branch manager', 'ops-supervisor')""",
    """INSERT INTO holidays (day, kind, name, updated_by)
       VALUES ('2026-10-01', 'holiday', '国庆节', 'ops'), ('2026-10-10', 'workday', NULL, 'ops')""",
    """INSERT INTO holiday_years (year, complete, note, declared_by)
       VALUES (2027, true, 'State Council notice', 'admin'), (2028, false, NULL, 'admin')""",
    f"""INSERT INTO calls (call_id, created_at, decision, reasons, request, callee_e164,
                          caller_id, agent_id, campaign_id, purpose, list_id, policy_version,
                          token_name, request_id, valid_until, token_id, rules_revision)
       VALUES ('{CALL_ALLOWED}', '2026-11-23T02:00:00Z', 'allow', '[]',
               '{{"callee": "13912345678", "caller_id": "4008001234", "agent_id": "A1001",
                 "purpose": "marketing"}}',
               '+8613912345678', '+864008001234', 'A1001', 'term-life-q4', 'marketing',
               'leads-2026-11', 'r7', 'dialer-site-1', 'req-1', '2026-11-23T02:01:00Z', 't1',
               '0.1.0+3b9c29a0eb59'),
              ('{CALL_DENIED}', '2026-11-23T02:05:00Z', 'deny',
               '[{{"code": "dnc_listed", "rule": "dnc",
                  "message": "callee 138****5678 is on the do-not-call list"}}]',
               '{{"callee": "+86 138 1234 5678"}}', '+8613812345678', '+864008001234',
               'A1001', 'term-life-q4', 'marketing', NULL, 'r7', 'dialer-site-1', NULL,
               '2026-11-23T02:06:00Z', 't1', '0.1.0+3b9c29a0eb59'),
              ('{CALL_OLD}', '2025-03-01T01:00:00Z', 'deny',
               '[{{"code": "invalid_number", "rule": "number", "message": "not a number"}}]',
               '{{"callee": "12"}}', NULL, '4008001234', 'B2002', NULL, 'callback', NULL, 'r1',
               'dialer-old', NULL, '2025-03-01T01:01:00Z', NULL, NULL)""",
    f"""INSERT INTO dnc_entries (number, scope, source, reason, created_at, created_by,
                                expires_at, evidence_call_id, ended_at, ended_by, end_reason)
       VALUES ('+8613812345678', 'marketing', 'supervisor', 'asked by letter',
               '2026-01-01T00:00:00Z', 'ops', NULL, NULL, '2026-02-01T00:00:00Z', 'ops',
               'superseded by a new entry'),
              ('+8613812345678', 'all', 'customer_refusal', 'refused every call',
               '2026-02-01T00:00:00Z', 'dialer-site-1', NULL, '{CALL_ALLOWED}', NULL, NULL,
               NULL),
              ('+861062345678', 'marketing', 'import:leads.csv', NULL, '2026-03-01T00:00:00Z',
               'ops', '2026-12-01T00:00:00Z', NULL, NULL, NULL, NULL),
              ('+8613912340001', 'marketing', 'customer_refusal', '客户明确拒绝',
               '2026-10-01T00:00:00Z', 'ops', NULL, NULL, '2026-10-05T00:00:00Z', 'ops',
               'superseded by a new entry'),
              ('+8613912340001', 'all', 'supervisor', 'widened by hand',
               '2026-10-05T00:00:00Z', 'ops', NULL, NULL, NULL, NULL, NULL),
              ('+8613912345678', 'marketing', 'import:leads.csv', NULL, '2026-11-01T00:00:00Z',
               'ops', NULL, NULL, NULL, NULL, NULL),
              ('+8613912340002', 'marketing', 'customer_refusal', 'refused',
               '2026-04-01T00:00:00Z', 'ops', NULL, NULL, '2026-04-02T00:00:00Z', 'ops',
               'no longer wanted')""",
    "UPDATE dnc_change_seq SET value = 3",
    """INSERT INTO dnc_changes (seq, made_at, kind, lines, numbers)
       VALUES (1, '2026-01-01T00:00:00Z', 'list', '8613812345678 m\n', 1),
              (2, '2026-02-01T00:00:00Z', 'list', '8613812345678 a\n', 1),
              (3, '2026-03-01T00:00:00Z', 'import', '861062345678 m1796083200\n', 1)""",
    """INSERT INTO job_runs (job, scheduled_at, trigger, dry_run, started_at, finished_at,
                             outcome, counts, error, host)
       VALUES ('retention', '2026-11-23T18:00:00Z', 'schedule', false, '2026-11-23T18:00:01Z',
               '2026-11-23T18:00:09Z', 'done', '{"deleted": 3}', NULL, 'gw-1'),
              ('integrity', '2026-11-23T19:00:00Z', 'manual', true, '2026-11-23T19:00:01Z',
               NULL, 'failed', NULL, 'disk full', 'gw-2')""",
    f"""INSERT INTO scrub_jobs (job_id, campaign_id, purpose, state, processed, total, error,
                               created_by)
       VALUES ('{SCRUB_JOB}', 'term-life-q4', 'marketing', 'done', 2, 2, NULL, 'dialer-site-1')""",
    f"""INSERT INTO scrub_result_chunks (job_id, chunk, lines, csv)
       VALUES ('{SCRUB_JOB}', 0, 2,
               E'13912345678,+8613912345678,true,\\n12,,false,invalid_number\\n')""",
    f"""INSERT INTO call_events (call_id, type, at, duration_s, disposition, scope,
                                fingerprint, token_name, received_at)
       VALUES ('{CALL_ALLOWED}', 'answered', '2026-11-23T02:00:20Z', NULL, NULL, NULL, 'f1',
               'dialer-site-1', '2026-11-23T02:00:21Z'),
              ('{CALL_ALLOWED}', 'ended', '2026-11-23T02:03:00Z', 160, 'sale', NULL, 'f2',
               'dialer-site-1', '2026-11-23T02:03:01Z'),
              ('{CALL_ALLOWED}', 'opt_out', '2026-11-23T02:02:00Z', NULL, NULL, 'all', 'f3',
               'dialer-site-1', '2026-11-23T02:02:01Z')""",
    f"""INSERT INTO compliance_exceptions (kind, call_id, detail, state, note, updated_by)
       VALUES ('call_after_deny', '{CALL_DENIED}', '{{"event": "dialed"}}', 'resolved',
               'agent retrained', 'ops'),
              ('dialed_without_check', NULL, '{{"cdr": 1}}', 'open', NULL, NULL)""",
    f"""INSERT INTO recordings (call_id, state, key, sha256, size, content_type, token_name,
                               started_at, stored_at)
       VALUES ('{CALL_ALLOWED}', 'stored', '2026/11/23/{CALL_ALLOWED}', '{"ab" * 32}', 48000,
               'audio/wav', 'dialer-site-1', '2026-11-23T02:04:00Z', '2026-11-23T02:04:02Z')""",
    f"""INSERT INTO call_sales (call_id, policy_no, term_months, terminated_at, linked_by)
       VALUES ('{CALL_ALLOWED}', 'P2026000123', 240, NULL, 'dialer-site-1')""",
    f"""INSERT INTO call_holds (call_id, hold, reason, set_by)
       VALUES ('{CALL_ALLOWED}', true, 'complaint under review', 'ops')""",
    f"""INSERT INTO recording_tombstones (call_id, key, sha256, size, retention_until, reason,
                                         deleted_at, files_removed)
       VALUES ('{CALL_OLD}', '2025/03/01/{CALL_OLD}', '{"cd" * 32}', 1000,
               '2026-03-01T00:00:00Z', 'retention', '2026-03-02T00:00:00Z', true)""",
    f"INSERT INTO integrity_cursor (id, call_id) VALUES (true, '{CALL_ALLOWED}')",
    f"""INSERT INTO cdrs (caller, callee_e164, callee_raw, start_at, end_at, call_id,
                         received_by, matched, finding)
       VALUES ('+864008001234', '+8613912345678', '13912345678', '2026-11-23T02:00:05Z',
               '2026-11-23T02:03:00Z', '{CALL_ALLOWED}', 'dialer-site-1', true, NULL),
              ('+864008001234', NULL, '12', '2026-11-23T03:00:00Z', NULL, NULL, 'pbx', false,
               'dialed_without_check')""",
    """INSERT INTO daily_reports (day, campaign_id, agent_id, figures)
       VALUES ('2026-11-22', 'term-life-q4', 'A1001', '{"checks": 2, "allows": 1}'),
              ('2026-11-22', '-', 'B2002', '{"checks": 1, "allows": 0}')""",
]

# Audit entries, appended with their hash chain as the gateway of that release wrote them.
AUDIT_ENTRIES = [
    ("ops", "list", "dnc", "+8613812345678", None, {"number": "+8613812345678"}, "asked"),
    ("ops", "create", "agent", "A1001", None, {"agent_id": "A1001", "name": "王芳"}, None),
    (
        "auditor-1",
        "simulate",
        "precheck",
        None,
        None,
        {"request": {"callee": "13912345678"}, "decision": "deny", "reasons": ["dnc_listed"]},
        None,
    ),
]

Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]
Check = Callable[[asyncpg.Connection, Rows], Awaitable[None]]


@dataclass(frozen=True)
class Upgrade:
    """What migration `number` does to rows that were there before it: `rewrites` names
    the (table, column) values it changes on purpose, `replaces` the tables it drops or
    renames; both are left out of the comparison, and `check` asserts what they became
    (it gets the connection to the upgraded database and the rows as seeded)."""

    number: int
    check: Check
    rewrites: frozenset[tuple[str, str]] = frozenset()
    replaces: frozenset[str] = frozenset()


async def _refusals_know_when_they_were_made(conn: asyncpg.Connection, seeded: Rows) -> None:
    """020: a refusal's protection counts from when it was made. An active entry holds the
    newest refusal behind it too: one it took over from, or an opt-out event that the
    previous release folded into an entry already there."""
    rows = {r["id"]: r for r in await conn.fetch("SELECT * FROM dnc_entries")}
    expected_active = {
        # Its own refusal.
        "+8613812345678": datetime(2026, 2, 1, tzinfo=UTC),
        # An opt-out the previous release folded into an import's entry.
        "+8613912345678": datetime(2026, 11, 23, 2, 2, 1, tzinfo=UTC),
        # A supervisor's entry that took over a refusal in the previous release.
        "+8613912340001": datetime(2026, 10, 1, tzinfo=UTC),
        "+861062345678": None,
    }
    for (entry_id,), old in seeded["dnc_entries"].items():
        new = rows[entry_id]
        if old["ended_at"] is None:
            made = expected_active[old["number"]]
        else:
            made = old["created_at"] if old["source"] == "customer_refusal" else None
        assert new["refusal_made_at"] == made, entry_id
        assert (new["supersedes"], new["consent_evidence"]) == (None, None)


async def _agents_telesales_campaigns_ordinary(conn: asyncpg.Connection, seeded: Rows) -> None:
    """021: existing agents are call-centre staff, campaigns sell ordinary products, and an
    active caller id without a publication date takes the date it was registered."""
    kinds = {r["agent_id"]: r["kind"] for r in await conn.fetch("SELECT * FROM agents")}
    assert kinds == {agent_id: "telesales" for (agent_id,) in seeded["agents"]}
    types = {
        r["campaign_id"]: r["product_type"] for r in await conn.fetch("SELECT * FROM campaigns")
    }
    assert types == {campaign_id: "ordinary" for (campaign_id,) in seeded["campaigns"]}
    caller_ids = {r["number"]: r for r in await conn.fetch("SELECT * FROM caller_ids")}
    for (number,), old in seeded["caller_ids"].items():
        expected = old["published_at"]
        if old["active"] and expected is None:
            expected = old["created_at"]
        assert caller_ids[number]["published_at"] == expected, number


async def _sales_became_policies(conn: asyncpg.Connection, seeded: Rows) -> None:
    """022: every sale is a policy linked to its call, and the old table is kept as it was."""
    kept = {r["call_id"]: dict(r) for r in await conn.fetch("SELECT * FROM call_sales_before_022")}
    policies = {r["policy_no"]: r for r in await conn.fetch("SELECT * FROM policies")}
    links = {
        (r["call_id"], r["policy_no"]) for r in await conn.fetch("SELECT * FROM call_policies")
    }
    assert seeded["call_sales"]
    for (call_id,), sale in seeded["call_sales"].items():
        assert kept[call_id] == sale
        policy = policies[sale["policy_no"]]
        assert (policy["term_months"], policy["terminated_at"]) == (
            sale["term_months"],
            sale["terminated_at"],
        )
        assert (call_id, sale["policy_no"]) in links


async def _old_recordings_have_no_duration(conn: asyncpg.Connection, seeded: Rows) -> None:
    """023: a recording stored before the gateway measured recordings keeps NULL; its other
    columns are compared as they were."""
    assert seeded["recordings"]
    durations = await conn.fetch("SELECT duration_s FROM recordings")
    assert [r["duration_s"] for r in durations] == [None] * len(seeded["recordings"])


async def _tokens_never_expire_and_active_names_are_unique(
    conn: asyncpg.Connection, seeded: Rows
) -> None:
    """024: tokens made before expiry existed never expire; of active tokens sharing a
    name the newest keeps it, older ones get their id after it; revoked ones keep theirs."""
    tokens = {r["token_id"]: r for r in await conn.fetch("SELECT * FROM api_tokens")}
    assert set(tokens) == {key for (key,) in seeded["api_tokens"]}
    assert all(t["expires_at"] is None for t in tokens.values())
    assert tokens["t1"]["name"] == "dialer-site-1"
    assert tokens["t0"]["name"] == "dialer-site-1 t0"
    assert tokens["t2"]["name"] == "old-auditor"


# One entry per migration after BASE, in order.
UPGRADES: list[Upgrade] = [
    Upgrade(20, _refusals_know_when_they_were_made),
    Upgrade(
        21,
        _agents_telesales_campaigns_ordinary,
        rewrites=frozenset({("caller_ids", "published_at")}),
    ),
    Upgrade(22, _sales_became_policies, replaces=frozenset({"call_sales"})),
    Upgrade(23, _old_recordings_have_no_duration),
    Upgrade(
        24,
        _tokens_never_expire_and_active_names_are_unique,
        rewrites=frozenset({("api_tokens", "name")}),
    ),
]


async def _tables(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every table of the schema with its primary key's columns."""
    rows = await conn.fetch(
        """SELECT c.relname AS name,
                  (SELECT array_agg(a.attname ORDER BY array_position(i.indkey, a.attnum))
                   FROM pg_index i JOIN pg_attribute a
                     ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                   WHERE i.indrelid = c.oid AND i.indisprimary) AS key
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'schema_migrations'
           ORDER BY 1"""
    )
    return {r["name"]: list(r["key"]) for r in rows}


async def _rows(conn: asyncpg.Connection) -> Rows:
    found: Rows = {}
    for table, key in (await _tables(conn)).items():
        records = await conn.fetch(f'SELECT * FROM "{table}"')
        found[table] = {tuple(r[k] for k in key): dict(r) for r in records}
    return found


async def _seed(dsn: str) -> None:
    conn = await connect(dsn)
    try:
        async with conn.transaction():
            for statement in SEED:
                await conn.execute(statement)
            prev = audit.GENESIS
            for i, (actor, action, entity, entity_id, before, after, reason) in enumerate(
                AUDIT_ENTRIES
            ):
                at = datetime(2026, 11, 23, 2, i, tzinfo=UTC)
                digest = audit.entry_hash(
                    prev, at, actor, action, entity, entity_id, before, after, reason
                )
                await conn.execute(
                    "INSERT INTO audit_log (at, actor, action, entity, entity_id, before, "
                    "after, reason, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
                    "$9, $10)",
                    at,
                    actor,
                    action,
                    entity,
                    entity_id,
                    before,
                    after,
                    reason,
                    prev,
                    digest,
                )
                prev = digest
    finally:
        await conn.close()


@pytest.fixture
async def old_database() -> AsyncIterator[str]:
    name = f"gwtest_upgrade_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield db_url(name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def test_every_migration_after_the_base_says_what_it_does_to_old_rows() -> None:
    later = [m.number for m in available_migrations() if m.number > BASE]
    assert [u.number for u in UPGRADES] == later, (
        "add an Upgrade entry (its check may assert that nothing changed) for each new migration"
    )


async def _read(dsn: str) -> Rows:
    conn = await asyncpg.connect(dsn)
    try:
        return await _rows(conn)
    finally:
        await conn.close()


async def test_an_old_database_keeps_every_row_when_upgraded(old_database: str) -> None:
    applied = await migrate(old_database, upto=BASE)
    assert applied[-1].startswith(f"{BASE:03d}_")
    await _seed(old_database)
    seeded = await _read(old_database)
    # The seed covers every table of that release: a table it forgets fails here.
    assert [t for t, rows in seeded.items() if not rows] == []

    applied = await migrate(old_database)
    assert applied == [m.name for m in available_migrations() if m.number > BASE]
    upgraded = await _read(old_database)
    rewritten = {pair for u in UPGRADES for pair in u.rewrites}
    replaced = {table for u in UPGRADES for table in u.replaces}
    for table, rows in seeded.items():
        if table in replaced:
            continue
        assert table in upgraded, f"table {table} is gone"
        for key, old in rows.items():
            new = upgraded[table].get(key)
            assert new is not None, f"{table} {key} is gone"
            kept = {c: v for c, v in old.items() if (table, c) not in rewritten}
            assert {c: new.get(c) for c in kept} == kept, f"{table} {key} changed"

    conn = await connect(old_database)
    try:
        for upgrade in UPGRADES:
            await upgrade.check(conn, seeded)
        # The audit chain written by the old release still verifies.
        report = await audit.verify(conn)
    finally:
        await conn.close()
    assert (report.checked, report.broken_at) == (len(AUDIT_ENTRIES), None)
