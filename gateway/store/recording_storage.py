"""Where recordings live. A small interface with a filesystem backend: files are laid out
by date (YYYY/MM/DD/<call id>.<ext>) under a primary and a backup directory.

Writing is staged: the body streams into a hidden partial file beside its final place
while its SHA-256 is computed; the caller's `measure` reads that file (and may refuse it);
the backup copy is written from it; both are fsynced and only then renamed into place. A
failure at any step removes the partial files, so no file exists that a record does not
describe, and no record describes a missing file."""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

from gateway.core.errors import TooLarge

EXTENSIONS = {
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mpeg": "mp3",
    "audio/ogg": "ogg",
}
CHUNK = 256 * 1024


class TooLargeRecording(TooLarge):
    """The upload went past the largest recording allowed."""


@dataclass(frozen=True)
class StoredRecording:
    key: str  # relative path, the same in both locations
    sha256: str
    size: int
    duration_s: float  # what `measure` found


class RecordingStore(Protocol):
    async def store(
        self,
        call_id: uuid.UUID,
        day: datetime,
        content_type: str,
        body: AsyncIterator[bytes],
        limit: int,
        measure: Callable[[Path], float],
    ) -> StoredRecording: ...

    def path(self, key: str, copy: str = "primary") -> Path: ...

    async def delete(self, key: str) -> None: ...


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemStore:
    def __init__(self, primary: str | Path, backup: str | Path) -> None:
        self.roots = {"primary": Path(primary), "backup": Path(backup)}

    def key_for(self, call_id: uuid.UUID, day: datetime, content_type: str) -> str:
        return f"{day:%Y/%m/%d}/{call_id}.{EXTENSIONS[content_type]}"

    def path(self, key: str, copy: str = "primary") -> Path:
        return self.roots[copy] / key

    async def store(
        self,
        call_id: uuid.UUID,
        day: datetime,
        content_type: str,
        body: AsyncIterator[bytes],
        limit: int,
        measure: Callable[[Path], float],
    ) -> StoredRecording:
        """Store the body twice. `measure` runs (in a thread) on the whole body written to
        disk before anything is copied or put in place: what it raises aborts the store,
        what it returns is the recording's duration."""
        key = self.key_for(call_id, day, content_type)
        final = {copy: self.path(key, copy) for copy in self.roots}
        partial = {
            copy: p.with_name(f".{p.name}.{uuid.uuid4().hex}.partial") for copy, p in final.items()
        }
        for p in final.values():
            await asyncio.to_thread(p.parent.mkdir, parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        try:
            with partial["primary"].open("wb") as out:
                async for chunk in body:
                    size += len(chunk)
                    if size > limit:
                        raise TooLargeRecording(f"recording is larger than {limit} bytes")
                    digest.update(chunk)
                    await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(_flush_and_sync, out)
            duration_s = await asyncio.to_thread(measure, partial["primary"])
            await asyncio.to_thread(_copy_synced, partial["primary"], partial["backup"])
            for copy in self.roots:
                await asyncio.to_thread(os.replace, partial[copy], final[copy])
                await asyncio.to_thread(_fsync_dir, final[copy].parent)
        except BaseException:
            for p in partial.values():
                p.unlink(missing_ok=True)
            raise
        return StoredRecording(key, digest.hexdigest(), size, duration_s)

    async def delete(self, key: str) -> None:
        for copy in self.roots:
            await asyncio.to_thread(self.path(key, copy).unlink, True)


def _flush_and_sync(f: object) -> None:
    f.flush()  # type: ignore[attr-defined]
    os.fsync(f.fileno())  # type: ignore[attr-defined]


def _copy_synced(source: Path, target: Path) -> None:
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
