"""The Lua scripts the gateway runs in Redis (gateway/store/lua), and the number form
they take."""

from __future__ import annotations

from importlib import resources


def lua(name: str) -> str:
    return resources.files("gateway.store").joinpath("lua", name).read_text("utf-8")


def digits(e164: str) -> int:
    """A number as the scripts take it: its E.164 digits, without the plus."""
    return int(e164.lstrip("+"))
