"""Bulk loading of do-not-call entries: lines are parsed as they arrive, staged with COPY
in batches, inserted where no active entry exists, and mirrored to the Redis cache batch
by batch, while the next batch is being parsed. Nothing holds the whole file."""

from __future__ import annotations

import asyncio
import contextlib
import csv
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import asyncpg

from gateway.policy.fast_numbers import normalize_fast
from gateway.policy.retention import REFUSAL_MIN_DAYS
from gateway.store.dnc_cache import DncCache
from gateway.types import Conn

BATCH = 50_000
_CHINA = ZoneInfo("Asia/Shanghai")
MAX_REPORTED_INVALID = 1000
REASON_MAX = 500

Progress = Callable[[int, int], None]  # (lines read, numbers added)


@dataclass
class InvalidLine:
    line: int
    value: str
    error: str


@dataclass
class ImportReport:
    added: int = 0
    already_listed: int = 0
    invalid: list[InvalidLine] = field(default_factory=list)
    invalid_count: int = 0
    lines: int = 0

    def reject(self, line: int, value: str, error: str) -> None:
        self.invalid_count += 1
        if len(self.invalid) < MAX_REPORTED_INVALID:
            self.invalid.append(InvalidLine(line, value[:64], error))


Row = tuple[str, str | None, datetime | None]


def parse_expiry(text: str) -> datetime:
    """RFC 3339 with offset, or a date (the entry ends at that day's start, UTC+8)."""
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime.combine(day, time(), tzinfo=_CHINA)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("expires_at needs a UTC offset")
    return moment


def parse_line(number: int, line: str, report: ImportReport, now: datetime) -> Row | None:
    """One CSV line `number[,reason[,expires_at]]`; None for blank, header or bad lines."""
    if not line.strip():
        return None
    fields = next(csv.reader([line])) if '"' in line else line.split(",")
    raw = fields[0].strip()
    if number == 1 and raw.lower() == "number":
        return None
    if len(fields) > 3:
        report.reject(number, raw, "too many fields: expected number[,reason[,expires_at]]")
        return None
    e164 = normalize_fast(raw)
    if e164 is None:
        report.reject(number, raw, "not a valid mainland mobile or landline number")
        return None
    reason = fields[1].strip() if len(fields) > 1 and fields[1].strip() else None
    if reason is not None and len(reason) > REASON_MAX:
        report.reject(number, raw, f"reason longer than {REASON_MAX} characters")
        return None
    expires = None
    if len(fields) > 2 and fields[2].strip():
        try:
            expires = parse_expiry(fields[2].strip())
        except ValueError:
            report.reject(number, raw, f"expires_at {fields[2].strip()!r} is not a date or time")
            return None
        if expires <= now:
            report.reject(number, raw, "expires_at is in the past")
            return None
    return (e164, reason, expires)


async def _insert_batch(
    conn: Conn, rows: list[Row], *, scope: str, source: str, created_by: str
) -> list[asyncpg.Record]:
    async with conn.transaction():
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS dnc_staging "
            "(number text, reason text, expires_at timestamptz) ON COMMIT DELETE ROWS"
        )
        await conn.copy_records_to_table("dnc_staging", records=rows)
        # An entry whose expiry has passed no longer counts: end it, so the number can be
        # listed again.
        expired = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE ended_at IS NULL "
            "AND expires_at <= now())"
        )
        if expired:
            await conn.execute(
                "UPDATE dnc_entries e SET ended_at = e.expires_at, ended_by = 'system', "
                "end_reason = 'expired' FROM dnc_staging s WHERE e.number = s.number "
                "AND e.ended_at IS NULL AND e.expires_at <= now()"
            )
        if scope == "all":
            # Refusing every call is wider than refusing sales calls: such an entry
            # replaces a marketing one (which is ended, and kept in the history).
            await conn.execute(
                "UPDATE dnc_entries e SET ended_at = now(), ended_by = $1, "
                "end_reason = 'superseded by a new entry' FROM dnc_staging s "
                "WHERE e.number = s.number AND e.ended_at IS NULL AND e.scope = 'marketing'",
                created_by,
            )
        # Duplicates within the batch are skipped by the conflict clause itself.
        added: list[asyncpg.Record] = await conn.fetch(
            """INSERT INTO dnc_entries (number, scope, source, reason, created_by, expires_at)
               SELECT number, $1, $2, reason, $3, expires_at
               FROM dnc_staging ORDER BY number
               ON CONFLICT (number) WHERE ended_at IS NULL DO NOTHING
               RETURNING number, scope, expires_at""",
            scope,
            source,
            created_by,
        )
    return added


async def import_entries(
    conn: Conn,
    cache: DncCache,
    lines: AsyncIterator[tuple[int, str]],
    *,
    scope: str,
    source: str,
    created_by: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import `number[,reason[,expires_at]]` lines. Entries already active are left as
    they are and counted in `already_listed` (with scope `all`, a marketing entry is
    replaced and counted as added); duplicates within the file count once."""
    if source == "customer_refusal":
        raise ValueError(f"refusals are recorded one by one (minimum {REFUSAL_MIN_DAYS} days)")
    report = ImportReport()
    now = datetime.now(UTC)
    batch: list[Row] = []
    # Three stages overlap: parsing the next batch (here), inserting the previous one in
    # PostgreSQL, and mirroring the one before to Redis.
    inserting: asyncio.Task[list[asyncpg.Record]] | None = None
    mirroring: asyncio.Task[None] | None = None

    async def mirror(added: list[asyncpg.Record]) -> None:
        await cache.apply_many((r["number"], r["scope"], r["expires_at"]) for r in added)

    async def flush(rows: list[Row]) -> None:
        nonlocal inserting, mirroring
        if inserting is not None:
            added = await inserting
            report.added += len(added)
            if mirroring is not None:
                await mirroring
            mirroring = asyncio.create_task(mirror(added))
        inserting = (
            asyncio.create_task(
                _insert_batch(conn, rows, scope=scope, source=source, created_by=created_by)
            )
            if rows
            else None
        )

    valid = 0
    try:
        async for number, line in lines:
            report.lines = number
            row = parse_line(number, line, report, now)
            if row is None:
                continue
            valid += 1
            batch.append(row)
            if len(batch) >= BATCH:
                await flush(batch)
                batch = []
                if progress is not None:
                    progress(report.lines, report.added)
        await flush(batch)
        await flush([])
        if mirroring is not None:
            await mirroring
    except BaseException:
        for task in (inserting, mirroring):
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        raise
    report.already_listed = valid - report.added
    if progress is not None:
        progress(report.lines, report.added)
    return report
