"""JSON bodies and query values that are wrong are InvalidRequest naming the field, never
another exception: bytes that are not UTF-8, a BOM, deep nesting, times outside the
years the gateway takes."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.api.routing import MAX_JSON_DEPTH, _too_deep, check_years, decode
from gateway.core.errors import InvalidRequest


class Window(msgspec.Struct, kw_only=True):
    start: datetime
    end: datetime | None = None


class Body(msgspec.Struct, kw_only=True):
    name: str
    day: date | None = None
    windows: list[Window] = []
    extra: dict[str, Any] = {}


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b'{"name": "\xff"}', "name: not UTF-8"),
        (b'{"name": "ok", "extra": {"k": "a\xc3"}}', "extra.k: not UTF-8"),
        (b'{"name": "ok", "\xfe": 1}', "not UTF-8"),
        (b'{"name": "\xed\xa0\x80"}', "name: not UTF-8"),  # a UTF-8-encoded surrogate
        (b"\xef\xbb\xbf" + b'{"name": "ok"}', "body: starts with a byte order mark"),
        (b'{"name": "ok", "extra": {"k": ' + b"[" * 50_000 + b"]" * 50_000 + b"}}", "nested"),
        (b'{"name": "ok", "extra": {"k": ' + b"[" * 31 + b"]" * 31 + b"}}", "nested"),
        (b'{"name": "ok", "day": "0001-01-01"}', "day: out of range"),
        (b'{"name": "ok", "day": "2200-01-01"}', "day: out of range"),
        (
            b'{"name": "ok", "windows": [{"start": "2026-01-01T00:00:00Z"}, '
            b'{"start": "2026-01-01T00:00:00Z", "end": "9999-12-31T23:59:59-14:00"}]}',
            "windows[1].end: out of range",
        ),
        (b'{"name": "ok", "extra": {"k": "\\u0000"}}', "extra.k: must not contain NUL"),
        (b'{"name": "\\ud800"}', "malformed JSON"),
        (b"   ", "empty"),
    ],
)
def test_wrong_json_is_invalid_request_naming_the_field(data: bytes, names: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        decode(data, Body)
    assert names in e.value.message


@pytest.mark.parametrize(
    "data",
    [
        b'{"name": "\xe5\xbc\xa0\xe4\xb8\x89"}',
        b'{"name": "[[[[{{{{", "extra": {"k": "]]]]"}}',  # brackets in strings do not nest
        b'{"name": "ok", "day": "1970-01-01", "windows": [{"start": "2199-12-31T23:59:59Z"}]}',
        b'{"name": "ok", "extra": {"k": ' + b"[" * 30 + b"]" * 30 + b"}}",
        b'{"name": "\\uFFFD ok"}',
    ],
)
def test_right_json_is_decoded(data: bytes) -> None:
    assert decode(data, Body).name


def test_of_a_key_given_twice_the_last_counts() -> None:
    assert decode(b'{"name": "first", "name": "last"}', Body).name == "last"


def test_a_time_at_the_edges_of_the_years_is_taken() -> None:
    check_years(Window(start=datetime.fromisoformat("1970-01-01T00:00:00+14:00")))
    with pytest.raises(InvalidRequest, match="start: out of range"):
        check_years(Window(start=datetime.fromisoformat("1969-12-31T23:59:59-14:00")))


json_values = st.recursive(
    st.none() | st.integers() | st.text(alphabet='[]{}"\\ab'),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=60,
)


def _depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    return 0


@given(json_values, st.integers(min_value=0, max_value=40))
def test_too_deep_is_the_depth_of_the_json(value: object, wrap: int) -> None:
    nested: object = value
    for _ in range(wrap):
        nested = [nested]
    data = json.dumps(nested).encode()
    assert _too_deep(data) == (_depth(nested) > MAX_JSON_DEPTH)
