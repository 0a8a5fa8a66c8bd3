"""The migration files themselves: numbering, and how a migration run outside a
transaction is split into statements."""

from __future__ import annotations

import pytest

from gateway.store.postgres import WITHOUT_TRANSACTION, Migration, available_migrations


def test_a_migration_outside_a_transaction_is_split_at_line_ending_semicolons() -> None:
    sql = (
        WITHOUT_TRANSACTION
        + "-- why this migration exists; a semicolon in a comment ends nothing\n"
        + "DROP INDEX CONCURRENTLY IF EXISTS a_new;  -- an earlier run's leftover\n"
        + "CREATE INDEX CONCURRENTLY a_new ON t (x)\n"
        + "    WHERE y = 'a;b';\n"
        + "\n"
        + "ALTER INDEX a_new RENAME TO a;\n"
    )
    migration = Migration(99, "099_x.sql", sql)
    assert not migration.transactional
    assert migration.statements() == [
        "DROP INDEX CONCURRENTLY IF EXISTS a_new",
        "CREATE INDEX CONCURRENTLY a_new ON t (x)\n    WHERE y = 'a;b'",
        "ALTER INDEX a_new RENAME TO a",
    ]


def test_a_comment_line_ending_in_a_semicolon_does_not_cut_a_statement() -> None:
    sql = (
        WITHOUT_TRANSACTION
        + "CREATE INDEX CONCURRENTLY a ON t (x)\n"
        + "  -- was a full index;\n"
        + "  WHERE y = 1;\n"
    )
    assert Migration(99, "099_x.sql", sql).statements() == [
        "CREATE INDEX CONCURRENTLY a ON t (x)\n  WHERE y = 1"
    ]


def test_a_body_in_dollar_quotes_is_one_statement_whatever_its_semicolons() -> None:
    sql = (
        WITHOUT_TRANSACTION
        + "SET lock_timeout = '1s';\n"
        + "DO $$\n"
        + "BEGIN\n"
        + "    ALTER TABLE t VALIDATE CONSTRAINT c;\n"
        + "EXCEPTION WHEN check_violation THEN\n"
        + "    -- reported, not fatal;\n"
        + "    RAISE WARNING 'c: %', 'x;';\n"
        + "END $$;\n"
        + "RESET lock_timeout;\n"
    )
    assert Migration(99, "099_x.sql", sql).statements() == [
        "SET lock_timeout = '1s'",
        "DO $$\nBEGIN\n    ALTER TABLE t VALIDATE CONSTRAINT c;\n"
        "EXCEPTION WHEN check_violation THEN\n    RAISE WARNING 'c: %', 'x;';\nEND $$",
        "RESET lock_timeout",
    ]


@pytest.mark.parametrize(
    "body",
    [
        "/* a; b */ SELECT 1;",
        "DO $body$ BEGIN PERFORM 1; END $body$;",
        "SELECT 1;\nSELECT 2",
        "DO $$ BEGIN PERFORM 1; END;",
    ],
)
def test_what_the_split_cannot_read_is_refused_outside_a_transaction(body: str) -> None:
    with pytest.raises(ValueError, match=r"099_x\.sql"):
        Migration(99, "099_x.sql", WITHOUT_TRANSACTION + body + "\n").statements()


def test_migrations_are_transactional_unless_they_say_otherwise() -> None:
    kinds = {m.name: m.transactional for m in available_migrations()}
    assert kinds["001_foundation.sql"]
    assert not kinds["014_calls_reasons_denied_only.sql"]
    assert not kinds["015_calls_reasons_agree_with_decision.sql"]


def test_outside_a_transaction_every_index_is_built_and_dropped_concurrently() -> None:
    # That is what such a migration is for: a plain CREATE INDEX would stop the table's
    # writes for the whole build.
    for migration in available_migrations():
        if migration.transactional:
            continue
        for statement in migration.statements():
            words = statement.split()
            if words[0] in ("CREATE", "DROP") and "INDEX" in words[:3]:
                assert "CONCURRENTLY" in words[:4], (migration.name, statement)
