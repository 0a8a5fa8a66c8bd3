"""What a check needs from Redis (`FactQuery`) and what Redis answered (`Facts`).

The API asks Redis once per check, in one script that also counts the attempt when
every other rule passed; `frequency_reasons` makes the same comparisons that script does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Final

import msgspec

from gateway.policy.context import CallContext
from gateway.policy.types import DncScope, Purpose

# Entry scopes that block a purpose: the DNC scope table of the API contract.
DNC_BLOCKING_SCOPES: Final[dict[Purpose, tuple[DncScope, ...]]] = {
    "marketing": ("all", "marketing"),
    "appointment": ("all", "marketing"),
    "callback": ("all",),
    "service": ("all",),
}

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MS: Final = timedelta(milliseconds=1)


class FactQuery(msgspec.Struct, frozen=True, kw_only=True):
    e164: str | None  # None when the callee is invalid: nothing to ask
    dnc_blocking_scopes: tuple[DncScope, ...]
    counts_attempts: bool  # the purpose is one the policy counts (Snapshot.counted_purposes)
    day_start_ms: int  # the callee's local midnight today
    week_start_ms: int  # the callee's local midnight six days ago
    now_ms: int
    per_day: int | None
    per_7_days: int | None
    min_gap_ms: int


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    """What Redis answered; attempt counts are from before this check."""

    degraded: str | None = None  # why a fact could not be established
    dnc_scope: DncScope | None = None  # scope of the active entry, if any
    dnc_note: str | None = None  # e.g. "since 2026-11-02 (customer refusal)", for the message
    attempts_today: int = 0
    attempts_7_days: int = 0
    last_attempt_ms: int | None = None


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // _MS


@lru_cache(maxsize=64)
def day_starts_ms(today: date, tz: tzinfo | None) -> tuple[int, int]:
    """Local midnight of `today` and of six days before it, in `tz`, as epoch ms. The same
    for every check of a day in one zone, so remembered."""
    return (
        epoch_ms(datetime.combine(today, time(), tzinfo=tz)),
        epoch_ms(datetime.combine(today - timedelta(days=6), time(), tzinfo=tz)),
    )


def fact_query(ctx: CallContext) -> FactQuery:
    purpose = ctx.request.purpose
    local_now = ctx.local_now
    day_start_ms, week_start_ms = day_starts_ms(local_now.date(), local_now.tzinfo)
    frequency = ctx.snapshot.policy.frequency
    return FactQuery(
        e164=ctx.callee.e164 if ctx.callee is not None else None,
        dnc_blocking_scopes=DNC_BLOCKING_SCOPES[purpose],
        counts_attempts=purpose in ctx.snapshot.counted_purposes,
        day_start_ms=day_start_ms,
        week_start_ms=week_start_ms,
        now_ms=epoch_ms(ctx.now),
        per_day=frequency.per_day,
        per_7_days=frequency.per_7_days,
        min_gap_ms=frequency.min_gap_minutes * 60_000,
    )
