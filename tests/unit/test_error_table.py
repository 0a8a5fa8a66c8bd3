"""One table gives every error its status and code: the error middleware and the OpenAPI
generator both read it, and no exception class carries a status or code of its own."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import gateway
from gateway.api import middleware, openapi
from gateway.api.error_table import ERRORS, STORE_UNREACHABLE, lookup
from gateway.api.middleware import ACCESS_LOG, IN_FLIGHT, ROUTE_SPECS, InFlight, observe
from gateway.api.openapi import build_openapi
from gateway.api.routing import RouteSpec
from gateway.app import all_routes
from gateway.core import errors as domain

GATEWAY = Path(gateway.__file__).resolve().parent


def domain_errors() -> list[type[domain.DomainError]]:
    return [
        kind
        for _, kind in inspect.getmembers(domain, inspect.isclass)
        if issubclass(kind, domain.DomainError) and kind is not domain.DomainError
    ]


def test_every_domain_error_has_its_own_status_and_code() -> None:
    answers = {kind: ERRORS[kind] for kind in domain_errors()}  # KeyError: not in the table
    assert len(set(answers.values())) == len(answers), answers
    assert all(status != 500 for status, _ in answers.values())


def test_codes_are_shared_only_by_errors_of_the_same_meaning() -> None:
    # aiohttp's own errors and a store gone away answer as the domain error they mean.
    by_answer: dict[tuple[int, str], list[type[Exception]]] = {}
    for kind, answer in ERRORS.items():
        by_answer.setdefault(answer, []).append(kind)
    for answer, kinds in by_answer.items():
        own = [k for k in kinds if issubclass(k, domain.DomainError)]
        others = [k for k in kinds if not issubclass(k, domain.DomainError)]
        assert len(own) <= 1, answer
        for kind in others:
            assert issubclass(kind, (web.HTTPException, *STORE_UNREACHABLE)) or (
                kind is Exception
            ), (kind, answer)


def test_a_subclass_answers_as_its_base() -> None:
    class NoSuchTape(domain.NotFound):
        pass

    assert lookup(NoSuchTape) == ERRORS[domain.NotFound]
    assert lookup(ConnectionResetError) == ERRORS[domain.Unavailable]
    assert lookup(KeyError) == (500, "internal")


def gateway_modules() -> list[Any]:
    names = [m.name for m in pkgutil.walk_packages([str(GATEWAY)], "gateway.")]
    return [importlib.import_module(n) for n in names if not n.endswith("__main__")]


def test_no_exception_class_carries_a_status_or_code() -> None:
    found = []
    for module in gateway_modules():
        for _, kind in inspect.getmembers(module, inspect.isclass):
            if kind.__module__ != module.__name__ or not issubclass(kind, BaseException):
                continue
            found += [f"{kind.__qualname__}.{a}" for a in ("status", "code") if a in vars(kind)]
    assert found == []


def test_no_module_but_the_table_sets_a_status_or_code_on_an_exception() -> None:
    # The same, as the source reads: also in classes nested where imports do not reach.
    table = GATEWAY / "api" / "error_table.py"
    found = []
    for path in GATEWAY.rglob("*.py"):
        if path == table:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if not line.startswith("class ") or "(" not in line:
                continue
            bases = line.partition("(")[2]
            if not any(w in bases for w in ("Error", "Exception", *dir(domain))):
                continue
            body = []
            for following in lines[i + 1 :]:
                if following and not following.startswith(" "):
                    break
                body.append(following.strip())
            found += [f"{path.name}: {line}" for b in body if b.startswith(("status =", "code ="))]
    assert found == []


def test_the_middleware_and_the_generator_repeat_no_code() -> None:
    codes = {code for _, code in ERRORS.values()} - {"internal"}
    for module in (middleware, openapi):
        source = Path(module.__file__ or "").read_text(encoding="utf-8")
        assert [c for c in codes if f'"{c}"' in source] == [], module.__name__


class Teapot(domain.DomainError):
    pass


async def teapot(request: web.Request) -> web.StreamResponse:
    raise Teapot("short and stout")


@pytest.fixture
def teapot_in_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ERRORS, Teapot, (418, "teapot"))


async def test_an_error_added_to_the_table_is_answered_with_it(teapot_in_table: None) -> None:
    app = web.Application(middlewares=[observe])
    app[ROUTE_SPECS] = {}
    app[IN_FLIGHT] = InFlight()
    app[ACCESS_LOG] = False
    app.router.add_get("/tea", teapot)
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        resp = await client.get("/tea")
        assert resp.status == 418
        assert await resp.json() == {
            "error": {
                "code": "teapot",
                "message": "short and stout",
                "message_zh": "请求错误：short and stout",
            }
        }
    finally:
        await client.close()


def test_an_error_added_to_the_table_is_in_the_document(teapot_in_table: None) -> None:
    spec = RouteSpec("GET", "/tea", teapot, frozenset({"admin"}), "Tea", errors=(Teapot,))
    responses = build_openapi([spec], "test")["paths"]["/tea"]["get"]["responses"]
    assert responses["418"]["x-error-codes"] == ["teapot"]


def test_a_declared_error_the_table_does_not_know_is_refused() -> None:
    spec = RouteSpec("GET", "/tea", teapot, frozenset({"admin"}), "Tea", errors=(Teapot,))
    with pytest.raises(ValueError, match="Teapot"):
        build_openapi([spec], "test")


def test_every_route_declares_only_errors_the_table_knows() -> None:
    specs = [s for group in all_routes() for s in group.specs]
    for spec in specs:
        for kind in spec.errors:
            answer = lookup(kind)
            assert answer is not None and answer[0] != 500, (spec.path, kind)


def test_every_error_code_has_its_chinese_summary() -> None:
    from gateway.api.error_table import ERROR_ZH, OTHER_HTTP_ERROR

    codes = {code for _, code in ERRORS.values()} | {OTHER_HTTP_ERROR}
    assert set(ERROR_ZH) == codes
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in text) for text in ERROR_ZH.values())


def test_the_chinese_message_is_the_services_own_or_the_summary_with_the_detail() -> None:
    from gateway.api.error_table import message_zh

    plain = domain.InvalidRequest("purpose: Invalid enum value 'sales'")
    assert message_zh(plain, "invalid_request", plain.message) == (
        "请求无效：purpose: Invalid enum value 'sales'"
    )
    own = domain.Conflict("exists", message_zh="已存在：呼叫已关联该保单")
    assert message_zh(own, "exists", own.message) == "已存在：呼叫已关联该保单"
