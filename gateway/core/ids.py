"""Time-ordered identifiers (UUID version 7 layout), so new rows land at the end of indexes."""

from __future__ import annotations

import os
import time
import uuid


def _uuid7_int(now_ms: int | None) -> int:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFFFFFFFFFF) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & 0x3FFFFFFFFFFFFFFF
    return value


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    return uuid.UUID(int=_uuid7_int(now_ms))


def uuid7_text(now_ms: int | None = None) -> str:
    """A uuid7 in its canonical text form, made without a UUID object: the pre-call check
    needs only the text (PostgreSQL's uuid column takes it as it is)."""
    h = f"{_uuid7_int(now_ms):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
