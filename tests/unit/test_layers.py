"""The layers of the package. The HTTP handlers hold no SQL: each parses the request,
calls a service and renders its answer, so the same operations serve every front end.
Imports read top-down, entry points -> api -> services -> store and policy, all on core;
policy imports nothing else of the gateway; and no two modules share a file name."""

from __future__ import annotations

import ast
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


# The house: entry points (the top-level modules) -> api -> services -> store/policy, all
# standing on core. Each layer imports only from those below it.
PACKAGE = API.parent
ENTRY_POINTS = sorted(p.stem for p in PACKAGE.glob("*.py") if p.name != "__init__.py")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module of the gateway that `path` imports, by dotted name (`from gateway.x
    import y` counts as both `gateway.x` and `gateway.x.y`)."""
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "gateway" or name.startswith("gateway.")}


def _modules(*packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (PACKAGE / package).rglob("*.py"))


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


ENTRY = tuple(f"gateway.{name}" for name in ENTRY_POINTS)


def test_the_entry_points_are_found() -> None:
    assert {"app", "cli", "serve"} <= set(ENTRY_POINTS)


@pytest.mark.parametrize("path", _modules("policy"), ids=lambda p: p.name)
def test_policy_imports_nothing_else_of_the_gateway(path: Path) -> None:
    outside = sorted(n for n in _imports(path) if not _within(n, "gateway.policy"))
    assert not outside, f"{path.name} imports {outside}"


@pytest.mark.parametrize("path", _modules("core"), ids=lambda p: p.name)
def test_core_imports_nothing_else_of_the_gateway(path: Path) -> None:
    outside = sorted(n for n in _imports(path) if not _within(n, "gateway.core"))
    assert not outside, f"{path.name} imports {outside}"


@pytest.mark.parametrize("path", _modules("store", "policy"), ids=lambda p: p.name)
def test_store_and_policy_import_no_layer_above(path: Path) -> None:
    above = sorted(
        n for n in _imports(path) if _within(n, "gateway.api", "gateway.services", *ENTRY)
    )
    assert not above, f"{path.name} imports {above}"


@pytest.mark.parametrize("path", _modules("services"), ids=lambda p: p.name)
def test_services_import_neither_the_api_nor_an_entry_point(path: Path) -> None:
    above = sorted(n for n in _imports(path) if _within(n, "gateway.api", *ENTRY))
    assert not above, f"{path.name} imports {above}"


def test_no_two_modules_share_a_file_name() -> None:
    by_name: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            by_name.setdefault(path.name, []).append(path.relative_to(PACKAGE).as_posix())
    shared = {name: sorted(paths) for name, paths in by_name.items() if len(paths) > 1}
    assert not shared, shared


def test_the_import_check_sees_what_a_module_imports() -> None:
    found = _imports(PACKAGE / "app.py")
    assert {"gateway.api", "gateway.api.ops", "gateway.core.metrics"} <= found
    assert not _within("gateway.apiary", "gateway.api")
    assert _within("gateway.api.calls_routes", "gateway.api")
