"""The documentation names every reason code, route, setting and metric the code has,
and the API reference names no route the code lacks (outside its "Not yet available"
section)."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from prometheus_client import Counter
from prometheus_client.metrics import MetricWrapperBase

from gateway.app import all_routes
from gateway.core import metrics
from gateway.core.settings import ENV_PREFIX, Settings
from gateway.policy import REASON_CODES

DOCS = Path(__file__).resolve().parents[2] / "docs"
API, RULES, OPERATIONS = "API.md", "RULES.md", "OPERATIONS.md"
NOT_YET = "Not yet available"

# "METHOD /path" as the docs write a route: the path ends at a space, backtick, query
# string or punctuation that cannot be part of it.
ROUTE_IN_TEXT = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_.{}/:%-]*)")


def doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def mentions(text: str, phrase: str) -> bool:
    """`phrase` occurs as a whole: not as part of a longer name or path."""
    pattern = rf"(?<![\w/{{-]){re.escape(phrase)}(?![\w/{{}}-])"
    return re.search(pattern, text) is not None


def declared_routes() -> list[tuple[str, str]]:
    return sorted({(s.method, s.path) for group in all_routes() for s in group.specs})


def setting_names() -> list[str]:
    return [f.name for f in msgspec.structs.fields(Settings)]


def metric_names() -> list[str]:
    names: list[str] = []
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            name = value._name
            names.append(name + "_total" if isinstance(value, Counter) else name)
        elif isinstance(value, metrics.LoopCounter):
            names.append(value.name + "_total")
        elif isinstance(value, metrics.LoopHistogram):
            names.append(value.name)
    return sorted(names)


def without_section(text: str, title: str) -> str:
    """The text with the `## title` section (up to the next `## ` heading) cut out."""
    return re.sub(rf"(?ms)^## {re.escape(title)}\s*$.*?(?=^## |\Z)", "", text)


def route_pattern(path: str) -> re.Pattern[str]:
    """A declared path as a pattern a concrete path (`/v1/lists/leads-1`) matches."""
    parts = re.split(r"(\{[^}]+\})", path)
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


# --- the checks themselves must be able to fail ---------------------------------------


def test_mentions_needs_the_whole_name() -> None:
    text = "`POST /v1/precheck/simulate` and `campaign_not_active_soon`, `GET /v1/agents/{id}`"
    assert mentions(text, "POST /v1/precheck/simulate")
    assert not mentions(text, "POST /v1/precheck")
    assert not mentions(text, "campaign_not_active")
    assert not mentions(text, "GET /v1/agents")
    assert mentions("see `GET /v1/holidays?year=2027`.", "GET /v1/holidays")


def test_not_yet_section_is_cut_out_and_only_it() -> None:
    text = "## A\nGET /a\n## Not yet available\nGET /b\n## C\nGET /c\n"
    rest = without_section(text, NOT_YET)
    assert "GET /a" in rest and "GET /c" in rest and "GET /b" not in rest


def test_concrete_paths_match_their_template_only() -> None:
    assert route_pattern("/v1/lists/{list_id}").fullmatch("/v1/lists/leads-2026-11")
    assert not route_pattern("/v1/lists/{list_id}").fullmatch("/v1/lists/a/b")
    assert not route_pattern("/v1/lists").fullmatch("/v1/lists/x")


def test_there_is_something_to_check() -> None:
    assert len(REASON_CODES) >= 15
    assert ("POST", "/v1/precheck") in declared_routes()
    assert "database_url" in setting_names()
    assert "gateway_checks_total" in metric_names()


# --- the code's names appear in the docs ----------------------------------------------


@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_reason_code_is_in_the_api_reference(code: str) -> None:
    assert mentions(doc(API), code), f"docs/{API} does not mention reason code {code}"


@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_reason_code_is_in_the_rules(code: str) -> None:
    assert mentions(doc(RULES), code), f"docs/{RULES} does not mention reason code {code}"


@pytest.mark.parametrize(("method", "path"), declared_routes())
def test_route_is_in_the_api_reference(method: str, path: str) -> None:
    documented = without_section(doc(API), NOT_YET)
    route = f"{method} {path}"
    assert mentions(documented, route), f"docs/{API} does not document {route}"


@pytest.mark.parametrize("name", setting_names())
def test_setting_is_documented(name: str) -> None:
    assert mentions(doc(OPERATIONS), name) or mentions(doc(API), name), (
        f"setting {name} is in neither docs/{OPERATIONS} nor docs/{API}"
    )


@pytest.mark.parametrize("name", setting_names())
def test_setting_environment_variable_is_documented(name: str) -> None:
    variable = ENV_PREFIX + name.upper()
    assert mentions(doc(OPERATIONS), variable), f"docs/{OPERATIONS} does not name {variable}"


@pytest.mark.parametrize("name", metric_names())
def test_metric_is_documented(name: str) -> None:
    assert mentions(doc(OPERATIONS), name), f"docs/{OPERATIONS} does not list metric {name}"


# --- the docs name nothing the code lacks ---------------------------------------------


@pytest.mark.parametrize("name", [API, OPERATIONS, RULES])
def test_every_documented_route_exists(name: str) -> None:
    """A route written as `METHOD /path` outside "Not yet available" must be declared."""
    declared = [(m, route_pattern(p)) for m, p in declared_routes()]
    text = without_section(doc(name), NOT_YET)
    missing = sorted(
        {
            f"{method} {path}"
            for method, path in ROUTE_IN_TEXT.findall(text)
            if not any(m == method and pattern.fullmatch(path) for m, pattern in declared)
        }
    )
    assert not missing, f"docs/{name} documents routes the gateway does not have: {missing}"


def test_every_documented_reason_code_exists() -> None:
    """Each row of the reason-code table names a code the policy has, with its rule."""
    section = re.search(r"(?ms)^### Reason codes\s*$(.*?)(?=^#)", doc(API))
    assert section is not None, f"docs/{API} has no Reason codes section"
    rows = re.findall(r"(?m)^\| `([a-z_]+)` \| ([a-z_]+) \|", section.group(1))
    assert len(rows) == len(REASON_CODES)
    for code, rule in rows:
        assert REASON_CODES.get(code) == rule, f"docs/{API}: {code} is not a code of rule {rule}"
