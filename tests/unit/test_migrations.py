"""The migration files themselves: numbering, and how a migration run outside a
transaction is split into statements."""

from __future__ import annotations

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


def test_migrations_are_transactional_unless_they_say_otherwise() -> None:
    kinds = {m.name: m.transactional for m in available_migrations()}
    assert kinds["001_foundation.sql"]
    assert not kinds["014_calls_reasons_denied_only.sql"]
    outside = next(m for m in available_migrations() if not m.transactional)
    # Every statement of it is one PostgreSQL accepts outside a transaction block alone.
    assert all(";" not in s.splitlines()[-1] for s in outside.statements())
    assert len(outside.statements()) == 4
