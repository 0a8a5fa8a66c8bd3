"""The OpenAPI document the gateway serves."""

from __future__ import annotations

from typing import Any


async def test_openapi_describes_every_route(client: Any) -> None:
    resp = await client.get("/openapi.json")
    doc = await resp.json()
    assert doc["openapi"].startswith("3.")
    assert "/healthz" in doc["paths"]
    assert "/readyz" in doc["paths"]


async def test_openapi_lists_each_routes_error_codes_by_status(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).json()

    def errors(path: str, method: str) -> dict[str, list[str]]:
        responses = doc["paths"][path][method]["responses"]
        return {s: r["x-error-codes"] for s, r in responses.items() if "x-error-codes" in r}

    assert errors("/v1/precheck", "post") == {
        "400": ["invalid_request"],
        "401": ["unauthorized", "token_expired"],
        "403": ["forbidden"],
        "405": ["method_not_allowed"],
        "408": ["request_timeout"],
        "409": ["request_id_conflict"],
        "413": ["too_large"],
        "503": ["unavailable"],
    }
    # A route reading a body, whole or streamed, may answer that it came too slowly.
    assert errors("/v1/calls/{call_id}/recording", "put")["408"] == ["request_timeout"]
    assert "408" not in errors("/v1/calls/{call_id}/recording", "get")
    assert errors("/v1/policy", "put")["400"] == ["invalid_request", "policy_below_floor"]
    assert errors("/v1/scripts/{script_id}/{version}", "patch")["409"] == ["invalid_state"]
    assert errors("/healthz", "get") == {"405": ["method_not_allowed"]}
    ready = doc["paths"]["/readyz"]["get"]["responses"]
    assert ready["503"]["content"] == ready["200"]["content"]  # the report, not ready
    described = doc["paths"]["/v1/precheck"]["post"]["responses"]["409"]
    assert described["description"] == "error: request_id_conflict"
    assert described["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


async def test_every_route_lists_the_errors_of_its_kind(client: Any) -> None:
    """What any route of a kind can answer is listed for each, not left to each route's
    own declaration: a bad token or role and a store unreachable wherever a token is
    needed, a too large or too slow body wherever one is read, and 415 wherever media
    other than JSON are taken."""
    doc = await (await client.get("/openapi.json")).json()
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    assert len(ops) > 30
    for path, method, op in ops:
        codes = {s: r["x-error-codes"] for s, r in op["responses"].items() if "x-error-codes" in r}
        where = f"{method.upper()} {path}"
        if "security" in op:
            assert codes["401"] == ["unauthorized", "token_expired"], where
            assert codes["403"] == ["forbidden"], where
            assert codes["503"] == ["unavailable"], where
        else:
            assert not {"401", "403"} & set(codes), where
        body = op.get("requestBody", {}).get("content", {})
        if body:
            assert codes["413"] == ["too_large"], where
            assert codes["408"] == ["request_timeout"], where
        if set(body) - {"application/json"}:
            assert codes["415"] == ["unsupported_media_type"], where
        assert "500" not in op["responses"], where
        assert codes["405"] == ["method_not_allowed"], where


async def test_openapi_lists_both_successes_where_the_server_answers_either(client: Any) -> None:
    doc = await (await client.get("/openapi.json")).json()

    def successes(path: str, method: str) -> set[str]:
        return {s for s in doc["paths"][path][method]["responses"] if s.startswith("2")}

    assert successes("/v1/lists/{list_id}", "put") == {"200", "201"}
    assert successes("/v1/dnc/{number}", "put") == {"200", "201"}
    assert successes("/v1/calls/{call_id}/policy", "post") == {"200", "201"}
    assert successes("/v1/calls/{call_id}/events", "post") == {"200", "201"}
    assert successes("/v1/holidays/{day}", "put") == {"200", "201"}
    assert successes("/v1/holidays/years/{year}", "put") == {"200", "201"}


async def test_openapi_types_query_and_path_parameters_as_the_server_reads_them(
    client: Any,
) -> None:
    doc = await (await client.get("/openapi.json")).json()
    calls = {p["name"]: p["schema"] for p in doc["paths"]["/v1/calls"]["get"]["parameters"]}
    assert calls["limit"]["type"] == "integer"
    assert calls["cursor"]["pattern"] == "^[A-Za-z0-9_-]+$"  # opaque, a page's next_cursor
    visits = doc["paths"]["/v1/return-visits"]["get"]["parameters"]
    assert next(p for p in visits if p["name"] == "cursor")["schema"]["type"] == "integer"
    assert calls["from"]["format"] == "date-time"
    assert calls["from"]["pattern"].startswith("^(19[7-9][0-9]|2[01][0-9]{2})-")
    assert calls["decision"] == {"enum": ["allow", "deny"]}
    day = doc["paths"]["/v1/holidays/{day}"]["put"]["parameters"][0]["schema"]
    assert day["format"] == "date"
    check = doc["components"]["schemas"]["CheckRequest"]
    assert check["properties"]["callee"]["pattern"] == "^[^\\x00]*$"  # no NUL
    body = doc["paths"]["/v1/precheck"]["post"]["requestBody"]["content"]["application/json"]
    marketing = next(
        r
        for r in body["schema"]["allOf"][1:]
        if r["if"]["properties"]["purpose"]["const"] == "marketing"
    )
    assert marketing["then"]["required"] == [
        "campaign_id",
        "script_id",
        "script_version",
        "list_id",
    ]
    audio = doc["paths"]["/v1/calls/{call_id}/recording"]["put"]["requestBody"]["content"]
    assert audio["audio/wav"]["schema"] == {"type": "string", "format": "binary"}
