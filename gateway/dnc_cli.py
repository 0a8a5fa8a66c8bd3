"""`gateway dnc import FILE` and `gateway dnc export`: straight to PostgreSQL and Redis,
with a progress bar (rate and time left) on the terminal."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

from gateway.api.csvlines import CsvText, line_blocks
from gateway.core.settings import Settings
from gateway.services.dnc_list import DncList
from gateway.store.dnc_cache import DncCache
from gateway.store.dnc_import import ImportReport
from gateway.store.keys import Keys
from gateway.store.postgres import create_pool
from gateway.store.redis import create_redis


class ProgressBar:
    def __init__(self, total_bytes: int, stream: IO[str]) -> None:
        self.total = total_bytes
        self.stream = stream
        self.started = time.monotonic()
        self.read = 0
        self._last = 0.0

    def update(self, lines: int, added: int, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-6)
        share = min(self.read / self.total, 1.0) if self.total else 1.0
        rate = lines / elapsed
        left = (elapsed / share - elapsed) if share > 0 else 0.0
        width = 30
        bar = "#" * int(share * width) + "-" * (width - int(share * width))
        self.stream.write(
            f"\r[{bar}] {share:6.1%} {lines:,} lines {added:,} added "
            f"{rate:,.0f} lines/s ETA {_clock(left)}" + ("\n" if final else "")
        )
        self.stream.flush()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:d}:{s // 60 % 60:02d}:{s % 60:02d}"


FILE_BLOCK_BYTES = 256 * 1024


def file_blocks(
    path: Path, bar: ProgressBar | None, codec: str | None = None
) -> AsyncIterator[tuple[int, list[str]]]:
    """The file's lines a block at a time (see `line_blocks`), read as an upload is: in
    `codec`, or without one UTF-8, else GB18030 (see `CsvText`)."""

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(FILE_BLOCK_BYTES):
                if bar is not None:
                    bar.read += len(chunk)
                yield chunk

    return line_blocks(chunks(), CsvText(codec).decode_block)


@asynccontextmanager
async def dnc_list(settings: Settings) -> AsyncIterator[DncList]:
    # An import's two lanes, and one to read changes made meanwhile by other processes.
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    redis = create_redis(settings.redis_url)
    try:
        yield DncList(pool, DncCache(redis, pool, Keys(settings.redis_prefix)))
    finally:
        await redis.aclose()
        await pool.close()


async def import_file(
    settings: Settings,
    path: Path,
    size: int,
    *,
    scope: str,
    actor: str,
    show_progress: bool,
    codec: str | None = None,
) -> ImportReport:
    bar = ProgressBar(size, sys.stderr) if show_progress else None
    async with dnc_list(settings) as dnc:
        report = await dnc.import_lines(
            file_blocks(path, bar, codec),
            scope=scope,
            source=f"import:{path.name}",
            actor=actor,
            progress=bar.update if bar is not None else None,
            expected_lines=size // 12,
        )
    if bar is not None:
        bar.update(report.lines, report.added, final=True)
    return report


async def export_csv(settings: Settings, out: IO[bytes], actor: str) -> None:
    async def started() -> None:
        pass

    async def write(chunk: bytes) -> None:
        out.write(chunk)

    async with dnc_list(settings) as dnc:
        await dnc.export(actor, started, write)


def operator() -> str:
    """Who runs the command, for the audit log."""
    return "cli:" + (os.environ.get("SUDO_USER") or os.environ.get("USER") or "operator")
