"""The HTTP handlers hold no SQL: each parses the request, calls a service and renders
its answer, so the same operations serve every front end."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "gateway" / "api"
# A query on a connection or pool, or a registry-table helper (rows.fetch_one, ...).
DATABASE_CALL = re.compile(r"\.(fetch\w*|execute|executemany|cursor)\(|\.copy_\w*")


def _handler_modules() -> list[Path]:
    return sorted(API.glob("*.py"))


def test_the_handler_modules_are_found() -> None:
    names = {p.name for p in _handler_modules()}
    assert {"calls_routes.py", "reference.py", "registries_routes.py", "review_routes.py"} <= names


@pytest.mark.parametrize("path", _handler_modules(), ids=lambda p: p.name)
def test_a_handler_module_runs_no_query(path: Path) -> None:
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if DATABASE_CALL.search(line)
    ]
    assert not found, "database calls belong in a service or store module:\n" + "\n".join(found)


def test_the_check_finds_a_query() -> None:
    for line in (
        "await conn.fetchrow('SELECT 1')",
        "await pool.fetch(q)",
        "await conn.execute(q)",
        "await conn.executemany(q, rows)",
        "await conn.copy_records_to_table('t', records=r)",
        "conn.cursor(q)",
        "await rows.fetch_all(pool, 'agents', ['agent_id'])",
    ):
        assert DATABASE_CALL.search(line), line
