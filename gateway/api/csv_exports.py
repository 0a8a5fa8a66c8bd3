"""What every CSV export shares: `?bom=1` starts the body with a UTF-8 byte-order mark,
so that Excel on a Chinese Windows reads it as UTF-8 rather than GBK."""

from __future__ import annotations

from typing import Final, Literal

from aiohttp import web

from gateway.core.errors import InvalidRequest

BOM: Final = b"\xef\xbb\xbf"
# For an export's query struct that refuses unknown parameters.
Bom = Literal[0, 1]


def csv_bom(request: web.Request) -> bytes:
    """The bytes an export starts with: the BOM for `?bom=1`, nothing for none or `0`."""
    raw = request.query.get("bom", "0")
    if raw not in ("0", "1"):
        raise InvalidRequest(f"query bom: must be 0 or 1, not {raw[:20]!r}")
    return BOM if raw == "1" else b""
