"""The OpenAPI document, generated from the same route declarations and schemas that
validate requests."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from gateway.api.error_table import ERRORS, lookup
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


# Years the server takes in a date or time (1970-2199), in RFC 3339 (a day past the end of
# its month, 02-30, matches but is refused).
_YEAR = "(19[7-9][0-9]|2[01][0-9]{2})"
_DAY = _YEAR + "-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-4]):[0-5][0-9])"
DATE_PATTERN = f"^{_DAY}$"
DATE_TIME_PATTERN = f"^{_DAY}T{_TIME}$"
# PostgreSQL cannot store a NUL in text: every route refuses one in any string.
NO_NUL_PATTERN = "^[^\\x00]*$"
# Mainland numbers the server takes as callable wherever it asks for one (a mobile of the
# 13x, 15x and 18x ranges, or a Beijing landline), in E.164. The server takes other forms
# too (0086 or 0 prefixes, spaces, other ranges and area codes); this is the form it stores.
NUMBER_PATTERN = "^\\+86(1(3[0-9]|5[0-35-9]|8[0-9])[0-9]{8}|10[2-7][0-9]{7})$"
_ID = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9._:-]+$"}
_BIGINT_ID = {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}

# The path parameters, by name: what the server takes (else 400 naming it, or 404).
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "agent_id": _ID,
    "campaign_id": _ID,
    "list_id": _ID,
    "script_id": _ID,
    "call_id": {"type": "string", "format": "uuid"},
    "job_id": {"type": "string", "format": "uuid"},
    "id": _BIGINT_ID,
    "version": {"type": "string", "pattern": "^[1-9][0-9]{0,8}$"},
    "number": {"type": "string", "pattern": NUMBER_PATTERN},
    "day": {"type": "string", "format": "date", "pattern": DATE_PATTERN},
    "year": {"type": "string", "pattern": f"^{_YEAR}$"},
    "policy_no": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[!-~]+$"},
}


# Query parameters the server parses from text beyond their Struct's type, by name.
QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    # An opaque cursor (a numeric one is an integer in its Struct): a page's next_cursor.
    "cursor": {"type": "string", "pattern": "^[A-Za-z0-9_-]+$"},
    "from": {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
    "to": {"type": "string", "format": "date-time", "pattern": DATE_TIME_PATTERN},
    "callee": {"type": "string", "pattern": NUMBER_PATTERN},
}


def _query_schema(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter is absent or has a value: never null."""
    options = [o for o in schema.get("anyOf", [schema]) if o.get("type") != "null"]
    one = options[0] if len(options) == 1 else {"anyOf": options}
    if one.get("type") == "string" and one.get("pattern") == NO_NUL_PATTERN:
        return QUERY_PARAMETERS.get(name, one)
    return one


def _strict(schema: Any) -> None:
    """Make a generated schema say what the server checks beyond the JSON types: no NUL in
    any string, dates and times in RFC 3339 within the years the server takes."""
    if isinstance(schema, list):
        for item in schema:
            _strict(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and "enum" not in schema:
        fmt = schema.get("format")
        if fmt == "date-time":
            schema["pattern"] = DATE_TIME_PATTERN
        elif fmt == "date":
            schema["pattern"] = DATE_PATTERN
        elif "pattern" not in schema:
            schema["pattern"] = NO_NUL_PATTERN
    for value in schema.values():
        _strict(value)


def _closed(components: dict[str, Any], types: list[Any]) -> None:
    """A Struct that refuses unknown fields has a schema that says so."""
    seen: set[type] = set()

    def walk(t: Any) -> None:
        if isinstance(t, msgspec.inspect.StructType):
            if t.cls in seen:
                return
            seen.add(t.cls)
            schema = components.get(t.cls.__name__)
            if t.forbid_unknown_fields and isinstance(schema, dict):
                schema["additionalProperties"] = False
            for f in t.fields:
                walk(f.type)
        for attr in ("item_type", "key_type", "value_type", "types", "item_types"):
            inner = getattr(t, attr, None)
            if isinstance(inner, tuple):
                for i in inner:
                    walk(i)
            elif inner is not None:
                walk(inner)

    for info in msgspec.inspect.multi_type_info(types):
        walk(info)


def _query_parameters(spec: RouteSpec, schemas: dict[Any, Any]) -> list[dict[str, Any]]:
    props: dict[str, Any] = {}
    required: list[str] = []
    if spec.query_type is not None:
        own = schemas[spec.query_type]
        props, required = own.get("properties", {}), own.get("required", [])
    return [
        {
            "name": q,
            "in": "query",
            "required": q in required,
            "schema": _query_schema(q, props.get(q, {"type": "string", "pattern": NO_NUL_PATTERN})),
        }
        for q in spec.query
    ]


def build_openapi(specs: list[RouteSpec], version: str) -> dict[str, Any]:
    types: list[Any] = []
    for spec in specs:
        for t in (spec.body, spec.response, spec.query_type):
            if t is not None and t not in types:
                types.append(t)
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    by_type = dict(zip(types, schemas, strict=True))
    # A query's Struct is inlined parameter by parameter, not a component of its own.
    for t in {spec.query_type for spec in specs} - {None}:
        by_type[t] = components.pop(t.__name__, by_type[t])
    _closed(components, types)
    _strict(components)
    _strict(list(by_type.values()))
    components["Error"] = ERROR_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for spec in sorted(specs, key=lambda s: (s.path, s.method)):
        op: dict[str, Any] = {"summary": spec.summary, "responses": {}}
        params = [
            {
                "name": name.strip("{}"),
                "in": "path",
                "required": True,
                "schema": PATH_PARAMETERS.get(name.strip("{}"), {"type": "string"}),
            }
            for name in spec.path.split("/")
            if name.startswith("{")
        ]
        params += _query_parameters(spec, by_type)
        if params:
            op["parameters"] = params
        if spec.reads_body:
            op["requestBody"] = {
                "required": True,
                "content": {ct: _body_schema(spec, ct, by_type) for ct in spec.body_content_types},
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
        errors = _errors_of(spec)
        errors[405] = [ERRORS[web.HTTPMethodNotAllowed][1]]  # another method on this path
        for status, codes in sorted(errors.items()):
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


def _body_schema(spec: RouteSpec, content_type: str, by_type: dict[Any, Any]) -> dict[str, Any]:
    if content_type == "application/json" and spec.body is not None:
        schema = by_type[spec.body]
        if spec.body_rules:
            schema = {"allOf": [schema, *spec.body_rules]}
        return {"schema": schema}
    if content_type.startswith("audio/"):
        return {"schema": {"type": "string", "format": "binary"}}
    # Text a route reads line by line (CSV, JSON lines): UTF-8 without NUL bytes.
    return {"schema": {"type": "string", "pattern": NO_NUL_PATTERN}}


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
