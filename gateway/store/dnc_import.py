"""Bulk loading of do-not-call entries: lines are parsed a block at a time as they
arrive, staged with COPY in batches, inserted where no active entry exists (each batch a
numbered change), and applied to the Redis cache batch by batch, while the next batch is
being parsed. Nothing holds the whole file."""

from __future__ import annotations

import asyncio
import csv
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from gateway.core.aliases import Conn
from gateway.core.tasks import abandon
from gateway.policy.fast_numbers import normalize_fast
from gateway.policy.numbers import CN_MOBILE
from gateway.policy.retention import REFUSAL_MIN_DAYS
from gateway.store.dnc_cache import CACHE_LINE_SQL
from gateway.store.dnc_changes import RECORD_PACKED_SQL

# Rows a lane inserts at a time. Larger batches sweep a large list's index in fewer,
# denser passes (at 10 million numbers, 200,000 a batch took a quarter less CPU than
# 50,000), while small imports want several batches to overlap parsing and inserting.
BATCH_MIN = 50_000
BATCH_MAX = 200_000  # 400,000 cost more again: the batches in flight crowd the heap


def batch_size(expected_lines: int) -> int:
    """Rows per lane batch for an import of about `expected_lines` lines."""
    return min(BATCH_MAX, max(BATCH_MIN, expected_lines // 20))


_CHINA = ZoneInfo("Asia/Shanghai")
MAX_REPORTED_INVALID = 1000
REASON_MAX = 500

Progress = Callable[[int, int], None]  # (lines read, numbers added)
Publish = Callable[[int, str], Awaitable[bool]]  # a committed change into Redis: applied?
# Changes up to this one (None: up to the newest) may not be in Redis.
Unapplied = Callable[[int | None], Awaitable[None]]


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


# Lines that are a mainland mobile written as its 11 digits, with perhaps a plain reason
# (no quotes, no third field): the common forms of a large list. Such a line means the
# same as `parse_line` makes of it, so a block of them is taken whole by one regular
# expression instead of a look at each line.
_PLAIN_LINE = re.compile(
    rf"^({CN_MOBILE.pattern})(?:,([^,\"\n]{{0,{REASON_MAX}}}))?$", re.ASCII | re.MULTILINE
)


def plain_lines(lines: list[str]) -> list[tuple[str, str]] | None:
    """(national number, reason as written or "") of each line when every line has the
    plain form, else None."""
    found: list[tuple[str, str]] = _PLAIN_LINE.findall("\n".join(lines))
    return found if lines and len(found) == len(lines) else None


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


# Merges each staged number with its active entry where the import would widen the scope
# (`?scope=all` over a `marketing` entry) or extend the expiry: the active entry is ended
# as superseded, and the staged row takes the wider scope, the later expiry (NULL, never,
# wins), the entry it supersedes and the refusal it holds. An import never narrows or
# shortens an entry: where it would change nothing the entry is left as it is.
_MERGE = """
WITH ended AS (
    UPDATE dnc_entries e SET ended_at = now(), ended_by = $2,
        end_reason = 'superseded by a new entry'
    FROM dnc_import_staging s
    WHERE e.number = s.number AND e.ended_at IS NULL
      AND ((e.scope = 'marketing' AND $1 = 'all')
           OR (e.expires_at IS NOT NULL
               AND (s.expires_at IS NULL OR s.expires_at > e.expires_at)))
    RETURNING e.id, e.number, e.scope, e.expires_at, e.refusal_made_at)
UPDATE dnc_import_staging s SET supersedes = ended.id,
    scope = CASE WHEN ended.scope = 'all' THEN 'all' ELSE $1 END,
    expires_at = CASE WHEN s.expires_at IS NULL OR ended.expires_at IS NULL THEN NULL
                      ELSE greatest(s.expires_at, ended.expires_at) END,
    refusal_made_at = ended.refusal_made_at
FROM ended WHERE s.number = ended.number
"""

# Inserts the staged numbers without an active entry (now also those merged above), each
# once (duplicates within the batch and numbers another writer lists meanwhile are skipped
# by the conflict clause), records them as one numbered change, and returns them as a
# count, the cache script's lines and the change's number (none when nothing was added).
_INSERT = f"""
WITH added AS (
    INSERT INTO dnc_entries (number, scope, source, reason, created_by, expires_at,
                             supersedes, refusal_made_at)
    SELECT number, coalesce(scope, $1), $2, reason, $3, expires_at, supersedes,
           refusal_made_at
    FROM dnc_import_staging ORDER BY number
    ON CONFLICT (number) WHERE ended_at IS NULL DO NOTHING
    RETURNING number, scope, expires_at),
packed AS (
    SELECT count(*) AS n, coalesce(string_agg({CACHE_LINE_SQL} || E'\\n', ''), '') AS lines
    FROM added),
{RECORD_PACKED_SQL}"""

Batch = tuple[int, str, int | None]  # added, the cache's lines, the change's number


async def _insert_batch(
    conn: Conn, rows: list[Row], *, scope: str, source: str, created_by: str
) -> Batch:
    """Insert a batch; returns how many entries were added, those entries as the cache's
    packed lines (written by PostgreSQL), and the change's number."""
    async with conn.transaction():
        # The staged batch is small beside the list: every join probes the number index
        # rather than reading the whole list into a hash table.
        await conn.execute("SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off")
        await conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS dnc_import_staging "
            '(number text COLLATE "C", reason text, expires_at timestamptz, scope text, '
            "supersedes bigint, refusal_made_at timestamptz) ON COMMIT DELETE ROWS; "
            "CREATE INDEX IF NOT EXISTS dnc_import_staging_number "
            "ON dnc_import_staging (number)"
        )
        await conn.copy_records_to_table(
            "dnc_import_staging", records=rows, columns=["number", "reason", "expires_at"]
        )
        # An entry whose expiry has passed no longer counts: end it, so the number can be
        # listed again.
        expired = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM dnc_entries WHERE ended_at IS NULL "
            "AND expires_at <= now())"
        )
        if expired:
            await conn.execute(
                "UPDATE dnc_entries e SET ended_at = e.expires_at, ended_by = 'system', "
                "end_reason = 'expired' FROM dnc_import_staging s WHERE e.number = s.number "
                "AND e.ended_at IS NULL AND e.expires_at <= now()"
            )
        await conn.execute(_MERGE, scope, created_by)
        added = await conn.fetchrow(_INSERT, scope, source, created_by)
    if added is None or added[2] is None:
        return (0, "", None)
    return (int(added[0]), str(added[1]), int(added[2]))


@dataclass
class _Lane:
    """One connection's share of an import: the numbers whose last digit has its parity.
    Lanes never touch the same number, so their batches run side by side without waiting
    for each other's locks, and PostgreSQL works on both cores."""

    conn: Conn
    rows: list[Row] = field(default_factory=list)
    inserting: asyncio.Task[Batch] | None = None
    mirroring: asyncio.Task[bool] | None = None

    def tasks(self) -> list[asyncio.Task[Any]]:
        return [t for t in (self.inserting, self.mirroring) if t is not None]


async def import_entries(
    conns: Sequence[Conn],
    publish: Publish,
    unapplied: Unapplied,
    blocks: AsyncIterator[tuple[int, list[str]]],
    *,
    scope: str,
    source: str,
    created_by: str,
    progress: Progress | None = None,
    batch: int = BATCH_MIN,
) -> ImportReport:
    """Import `number[,reason[,expires_at]]` lines, read as blocks (the 1-based number of
    a block's first line, its lines), over one or more connections. A number with an
    active entry is merged with it (`_MERGE`) and counted as added when that widens its
    scope or extends its expiry; otherwise the entry is left as it is and counted in
    `already_listed`; duplicates within the file count once. Each batch is a numbered
    change, applied to Redis by `publish`; once one could not be, the later ones are not
    tried, and `unapplied` is told the last number."""
    if source == "customer_refusal":
        raise ValueError(f"refusals are recorded one by one (minimum {REFUSAL_MIN_DAYS} days)")
    report = ImportReport()
    now = datetime.now(UTC)
    lanes = [_Lane(c) for c in conns]
    width = len(lanes)
    committed = 0  # the newest change number committed
    started = False  # a batch was sent to PostgreSQL (it may commit, even if abandoned)
    redis_failed = False

    async def mirror(seq: int, packed: str) -> bool:
        nonlocal redis_failed
        if redis_failed or not await publish(seq, packed):
            redis_failed = True
        return not redis_failed

    # In each lane three stages overlap: parsing its next batch (here), inserting the
    # previous one in PostgreSQL, and applying the one before to Redis.
    async def flush(lane: _Lane, rows: list[Row]) -> None:
        nonlocal committed
        if lane.inserting is not None:
            added, packed, seq = await lane.inserting
            lane.inserting = None
            report.added += added
            if lane.mirroring is not None:
                await lane.mirroring
                lane.mirroring = None
            if seq is not None:
                committed = max(committed, seq)
                lane.mirroring = asyncio.create_task(mirror(seq, packed))
        if rows:
            nonlocal started
            started = True
            # A number written twice in one batch: its first line counts, as across
            # batches (the later line then finds it listed).
            firsts = list({row[0]: row for row in reversed(rows)}.values())
            lane.inserting = asyncio.create_task(
                _insert_batch(lane.conn, firsts, scope=scope, source=source, created_by=created_by)
            )

    valid = 0
    try:
        async for first, lines in blocks:
            plain = plain_lines(lines)
            if plain is not None:
                valid += len(plain)
                for k, lane in enumerate(lanes):
                    lane.rows.extend(
                        [
                            (f"+86{national}", reason.strip() or None, None)
                            for national, reason in plain
                            if ord(national[-1]) % width == k
                        ]
                    )
            else:
                for number, line in enumerate(lines, first):
                    row = parse_line(number, line, report, now)
                    if row is not None:
                        valid += 1
                        lanes[ord(row[0][-1]) % width].rows.append(row)
            report.lines = first + len(lines) - 1
            for lane in lanes:
                while len(lane.rows) >= batch:
                    rows, lane.rows = lane.rows[:batch], lane.rows[batch:]
                    await flush(lane, rows)
            if progress is not None:
                progress(report.lines, report.added)
        for lane in lanes:
            rows, lane.rows = lane.rows, []
            await flush(lane, rows)  # the last rows
        for lane in lanes:
            await flush(lane, [])  # their answer
            if lane.mirroring is not None:
                await lane.mirroring
    except BaseException:
        await abandon(*[t for lane in lanes for t in lane.tasks()])
        if started:
            # Batches may be committed that never reached Redis (one abandoned just now
            # too): checks deny as degraded until the cache has them, rather than allow
            # those numbers.
            await unapplied(None)
        raise
    if redis_failed:
        await unapplied(committed)
    report.already_listed = valid - report.added
    if progress is not None:
        progress(report.lines, report.added)
    return report
