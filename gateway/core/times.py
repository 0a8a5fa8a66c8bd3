"""How the gateway writes the times it answers with: RFC 3339 in Beijing time
(Asia/Shanghai), `2026-12-04T19:18:37+08:00`, in JSON answers, CSV exports and the
command line alike. Fractions of a second are written when a time has them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

BEIJING: Final = ZoneInfo("Asia/Shanghai")

# A COPY's timestamptz columns written the same way (`beijing_sql("created_at")`), for
# a session whose TimeZone is Asia/Shanghai (see `BEIJING_SESSION`).
BEIJING_SESSION: Final = "SET LOCAL TimeZone TO 'Asia/Shanghai'"


def beijing(moment: datetime) -> datetime:
    """An aware time in Beijing time (a naive one, which no column holds, as it is)."""
    return moment if moment.tzinfo is None else moment.astimezone(BEIJING)


def rfc3339(moment: datetime) -> str:
    return beijing(moment).isoformat()


def beijing_text(moment: datetime) -> str:
    """To the second, for people reading a terminal."""
    return beijing(moment).isoformat(timespec="seconds")


def beijing_sql(column: str) -> str:
    """SQL writing a timestamptz column as `rfc3339` does (NULL stays NULL)."""
    return (
        f"regexp_replace(to_char({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '\\.000000$', '')"
        f" || to_char({column}, 'TZH:TZM')"
    )


def in_beijing(value: Any) -> Any:
    """`value` (structs, dicts, lists, ...) as the builtins JSON encodes, every aware
    time in Beijing time: msgspec writes a time in its own offset, so this is where
    answers get theirs."""
    return _convert(msgspec.to_builtins(value, builtin_types=(datetime,)))


def _convert(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _convert(v) for k, v in value.items()}
    if kind is list:
        return [_convert(v) for v in value]
    if kind is datetime:
        return beijing(value)
    return value
