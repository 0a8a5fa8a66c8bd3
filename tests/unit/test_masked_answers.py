"""Which numbers an auditor's answers show in full: only the company's dedicated numbers."""

from __future__ import annotations

from types import SimpleNamespace

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from gateway.api.masked_answers import number_mask
from gateway.api.routing import PRINCIPAL
from gateway.appkeys import REGISTRIES


def request_as(role: str, caller_ids: dict[str, object]) -> web.Request:
    app = web.Application()
    app[REGISTRIES] = SimpleNamespace(current=SimpleNamespace(caller_ids=caller_ids))  # type: ignore[misc]
    request = make_mocked_request("GET", "/v1/caller-ids", app=app)
    request[PRINCIPAL] = SimpleNamespace(role=role)
    return request


def test_a_mobile_registered_as_a_caller_id_before_mobiles_were_refused_is_masked() -> None:
    mask = number_mask(request_as("auditor", {"+864008001234": 1, "+8613812345678": 1}))
    assert mask is not None
    shown = mask.value({"caller_ids": ["+864008001234", "+8613812345678"]})
    assert shown == {"caller_ids": ["+864008001234", "138****5678"]}


def test_supervisors_see_every_number() -> None:
    assert number_mask(request_as("supervisor", {"+8613812345678": 1})) is None
