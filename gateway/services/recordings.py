"""Recording uploads and playback: the metadata row is written only after both copies
are on disk and synced; an upload that fails leaves neither files nor a row claiming
them. An upload must be audio of its content type's container, with a length: one that is
not fails (`InvalidRecording`), so the call can still get its real recording."""

from __future__ import annotations

import stat
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import asyncpg

from gateway.core.errors import Conflict
from gateway.services.audio import checked_head, measure
from gateway.services.call_events import UnknownCall, check_recording_length, record_exception
from gateway.store import audit
from gateway.store.recording_storage import FilesystemStore, StoredRecording

# An upload not finished in this long is taken to have died with its process.
STALE_UPLOAD = "15 minutes"


class RecordingExists(Conflict):
    """The call has its recording already."""


@dataclass(frozen=True)
class Playback:
    path: Path
    content_type: str
    size: int
    copy: str
    modified_ns: int  # the file's, as its ETag and Last-Modified are made from


class Recordings:
    def __init__(self, pool: asyncpg.Pool, store: FilesystemStore, limit: int) -> None:
        self._pool = pool
        self.store = store
        self.limit = limit

    async def upload(
        self, call_id: uuid.UUID, content_type: str, body: AsyncIterator[bytes], token: str
    ) -> StoredRecording:
        async with self._pool.acquire() as conn, conn.transaction():
            call = await conn.fetchrow(
                "SELECT created_at, decision FROM calls WHERE call_id = $1", call_id
            )
            if call is None:
                raise UnknownCall(f"no call {call_id}")
            claimed = await conn.fetchval(
                "INSERT INTO recordings (call_id, state, content_type, token_name) "
                "VALUES ($1, 'uploading', $2, $3) ON CONFLICT (call_id) DO UPDATE "
                "SET started_at = now(), content_type = EXCLUDED.content_type, "
                "token_name = EXCLUDED.token_name "
                f"WHERE recordings.state = 'uploading' AND recordings.started_at < "
                f"now() - interval '{STALE_UPLOAD}' RETURNING true",
                call_id,
                content_type,
                token,
            )
            if not claimed:
                raise RecordingExists(f"call {call_id} already has a recording")
        try:
            stored = await self.store.store(
                call_id,
                call["created_at"],
                content_type,
                checked_head(content_type, body),
                self.limit,
                partial(measure, content_type),
            )
        except BaseException:
            await self._pool.execute(
                "DELETE FROM recordings WHERE call_id = $1 AND state = 'uploading'", call_id
            )
            raise
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE recordings SET state = 'stored', key = $2, sha256 = $3, size = $4, "
                "duration_s = $5, stored_at = now() WHERE call_id = $1",
                call_id,
                stored.key,
                stored.sha256,
                stored.size,
                stored.duration_s,
            )
            await check_recording_length(conn, call_id, token)
            if call["decision"] == "deny":
                await record_exception(
                    conn,
                    "call_after_deny",
                    call_id,
                    {"event": "recording", "decision": "deny", "reported_by": token},
                )
        return stored

    async def playback(self, call_id: uuid.UUID) -> Playback | None:
        row = await self._pool.fetchrow(
            "SELECT key, content_type, size FROM recordings "
            "WHERE call_id = $1 AND state = 'stored'",
            call_id,
        )
        if row is None:
            return None
        for copy in ("primary", "backup"):
            path = self.store.path(row["key"], copy)
            try:
                st = path.stat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size == row["size"]:
                return Playback(path, row["content_type"], row["size"], copy, st.st_mtime_ns)
        return None

    async def played(
        self, actor: str, call_id: uuid.UUID, playback: Playback, range_header: str | None
    ) -> None:
        """Audit a playback of a call's recording (from the start: a player's seeks are
        part of it)."""
        async with self._pool.acquire() as conn, conn.transaction():
            await audit.record(
                conn,
                actor=actor,
                action="play",
                entity="recording",
                entity_id=str(call_id),
                after={"copy": playback.copy, "range": range_header},
            )

    async def metadata(self, call_id: uuid.UUID) -> dict[str, object] | None:
        row = await self._pool.fetchrow(
            "SELECT sha256, size, content_type, duration_s, stored_at FROM recordings "
            "WHERE call_id = $1 AND state = 'stored'",
            call_id,
        )
        return None if row is None else dict(row)
