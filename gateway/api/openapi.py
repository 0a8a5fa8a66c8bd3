"""The OpenAPI document, generated from the same route declarations and schemas that
validate requests."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.api.routing import RouteSpec

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def build_openapi(specs: list[RouteSpec], version: str) -> dict[str, Any]:
    types: list[Any] = []
    for spec in specs:
        for t in (spec.body, spec.response):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(types, schemas, strict=True))
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(specs, key=lambda s: (s.path, s.method)):
        op: dict[str, Any] = {"summary": spec.summary, "responses": {}}
        params = [
            {"name": name.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for name in spec.path.split("/")
            if name.startswith("{")
        ]
        params += [
            {"name": q, "in": "query", "required": False, "schema": {"type": "string"}}
            for q in spec.query
        ]
        if params:
            op["parameters"] = params
        if spec.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {ct: {"schema": by_type[spec.body]} for ct in spec.body_content_types},
            }
        ok: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            ok["content"] = {spec.response_content_type: {"schema": by_type[spec.response]}}
        elif spec.response_content_type != "application/json":
            ok["content"] = {spec.response_content_type: {}}
        op["responses"][str(spec.status)] = ok
        err = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        codes = ["400", "413"] if spec.body is not None else []
        if not spec.public:
            codes = ["401", "403", *codes]
            op["security"] = [{"bearer": []}]
            op["x-roles"] = sorted(spec.roles)
        for code in codes:
            op["responses"][code] = {"description": "error", **err}
        paths.setdefault(spec.path, {})[spec.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Telemarketing compliance gateway", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
