"""The OpenAPI document, generated from the same route declarations and schemas that
validate requests."""

from __future__ import annotations

from typing import Any

import msgspec

from gateway.api.error_table import lookup
from gateway.api.routing import RouteSpec
from gateway.core.errors import (
    Forbidden,
    InvalidRequest,
    RequestTimeout,
    TokenExpired,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "message_zh"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "message_zh": {"type": "string"},
            },
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
        if spec.reads_body:  # a streamed body has its media types, not a schema
            schema = {} if spec.body is None else {"schema": by_type[spec.body]}
            op["requestBody"] = {
                "required": True,
                "content": {ct: schema for ct in spec.body_content_types},
            }
        ok: dict[str, Any] = {"description": "success"}
        if spec.response is not None:
            ok["content"] = {spec.response_content_type: {"schema": by_type[spec.response]}}
        elif spec.response_content_type != "application/json":
            ok["content"] = {spec.response_content_type: {}}
        op["responses"][str(spec.status)] = ok
        for status, meaning in spec.also:
            op["responses"][str(status)] = {**ok, "description": meaning}
        if not spec.public:
            op["security"] = [{"bearer": []}]
            op["x-roles"] = sorted(spec.roles)
        for status, codes in sorted(_errors_of(spec).items()):
            op["responses"][str(status)] = {
                "description": "error: " + ", ".join(codes),
                "x-error-codes": codes,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            }
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


def _errors_of(spec: RouteSpec) -> dict[int, list[str]]:
    """The error codes a route answers with, by status: those of every route of its kind,
    then its own."""
    kinds: list[type[Exception]] = []
    if spec.body is not None or spec.query:
        kinds.append(InvalidRequest)  # a bad body or query parameter
    if spec.reads_body:
        kinds += [TooLarge, RequestTimeout]  # too large, or too slow to arrive
    if spec.takes_other_media:
        kinds.append(UnsupportedMediaType)
    if not spec.public:
        # Unavailable: a store unreachable while answering, the token check included.
        kinds += [Unauthorized, TokenExpired, Forbidden, Unavailable]
    kinds += spec.errors
    found: dict[int, list[str]] = {}
    for kind in kinds:
        answer = lookup(kind)
        if answer is None or answer[0] == 500:
            raise ValueError(f"{spec.method} {spec.path}: {kind.__name__} has no status")
        status, code = answer
        codes = found.setdefault(status, [])
        if code not in codes:
            codes.append(code)
    return found
