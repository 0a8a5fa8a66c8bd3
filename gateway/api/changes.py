"""Checks the registry handlers make of a request's values before a change is made
(the change itself is gateway.services.registries)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from gateway.core.errors import InvalidRequest


def set_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried."""
    return {
        name: value
        for name in patch.__struct_fields__
        if (value := getattr(patch, name)) is not msgspec.UNSET
    }


def check_text(values: Mapping[str, Any]) -> None:
    """Refuse text PostgreSQL cannot store (a NUL character), naming the field."""
    for name, value in values.items():
        items = enumerate(value) if isinstance(value, list | tuple) else [(None, value)]
        for i, item in items:
            if isinstance(item, str) and "\x00" in item:
                where = name if i is None else f"{name}[{i}]"
                raise InvalidRequest(f"{where}: must not contain NUL characters")


def check_when(name: str, value: datetime | None) -> None:
    """A time must carry an offset and lie within the years PostgreSQL and Python share."""
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRequest(f"{name}: must carry a UTC offset (RFC 3339)")
    try:
        value.astimezone(UTC)
    except OverflowError as e:
        raise InvalidRequest(f"{name}: out of range") from e
