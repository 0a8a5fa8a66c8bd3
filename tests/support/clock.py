"""A settable clock for the gateway under test."""

from __future__ import annotations

from datetime import datetime, timedelta


class Clock:
    """A settable clock for the gateway under test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def set(self, iso: str) -> None:
        self.at = datetime.fromisoformat(iso)

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)
