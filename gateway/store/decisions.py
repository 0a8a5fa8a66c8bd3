"""The decision log: every check is written before its answer is sent. Checks arriving
together are written together, one round trip per batch, and each waits for its batch.

Each writer keeps its pool connection between batches: giving it back to the pool costs
a second round trip (the pool resets the session), which would double the statements
PostgreSQL runs per batch. After a failed batch the connection goes back to the pool (which
discards it if broken) and the next batch takes a fresh one."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from gateway.core import metrics
from gateway.core.tasks import raise_if_stopping, stop
from gateway.store.answers import ANSWER_COLUMNS, BINDING

log = logging.getLogger("gateway.decisions")


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One row of `calls`: each field is the column of the same name."""

    call_id: uuid.UUID | str  # a str in its canonical text form
    created_at: datetime
    decision: str
    reasons: str  # JSON
    request: str  # JSON
    callee_e164: str | None
    caller_id: str
    agent_id: str
    campaign_id: str | None
    purpose: str
    list_id: str | None
    policy_version: str
    rules_revision: str  # the rule code that judged it (gateway.services.revision)
    token_name: str
    token_id: str | None
    request_id: str | None
    valid_until: datetime


_FIELDS = tuple(f.name for f in fields(DecisionRecord))
_row = attrgetter(*_FIELDS)  # a record's values in column order
_JSON = frozenset({"reasons", "request"})  # JSON already encoded: sent as text, cast
_ARRAY_TYPES = {"call_id": "uuid", "created_at": "timestamptz", "valid_until": "timestamptz"}
_COLUMNS = f"INSERT INTO calls ({', '.join(_FIELDS)})"


# A large batch goes as one array per column.
_INSERT_ARRAYS = (
    f"{_COLUMNS}\nSELECT "
    + ", ".join(f"c{i}::jsonb" if f in _JSON else f"c{i}" for i, f in enumerate(_FIELDS, 1))
    + "\nFROM unnest("
    + ", ".join(f"${i}::{_ARRAY_TYPES.get(f, 'text')}[]" for i, f in enumerate(_FIELDS, 1))
    + ") AS t("
    + ", ".join(f"c{i}" for i in range(1, len(_FIELDS) + 1))
    + ")"
)

# A small batch (the usual one below a few thousand checks a second) goes as VALUES rows,
# one prepared statement per size: encoding arrays element by element and unnesting
# them costs both sides more than plain parameters do at these sizes.
VALUES_UP_TO = 20


def _insert_values(rows: int) -> str:
    def param(n: int, name: str) -> str:
        return f"${n}::text::jsonb" if name in _JSON else f"${n}"

    width = len(_FIELDS)
    tuples = ", ".join(
        "(" + ", ".join(param(r * width + c, f) for c, f in enumerate(_FIELDS, 1)) + ")"
        for r in range(rows)
    )
    return f"{_COLUMNS}\nVALUES {tuples}"


_INSERT_VALUES = {n: _insert_values(n) for n in range(1, VALUES_UP_TO + 1)}


class DecisionLogUnavailable(Exception):
    pass


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(TimeoutError())


class DecisionLog:
    def __init__(self, pool: asyncpg.Pool, max_batch: int = 500, writers: int = 1) -> None:
        self._pool = pool
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[DecisionRecord, asyncio.Future[None]]] = asyncio.Queue()
        self._writers = writers
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._run(), name=f"decision-writer-{i}")
            for i in range(self._writers)
        ]

    async def close(self) -> None:
        # Let queued decisions be written before the pool closes.
        for _ in range(500):
            if self._queue.empty():
                break
            await asyncio.sleep(0.01)
        await stop(*self._tasks)

    async def answered(
        self, call_id: uuid.UUID, token_id: str, request_id: str | None
    ) -> asyncpg.Record | None:
        """A stored decision that bound a token's request_id (the columns of
        ANSWER_COLUMNS), or None."""
        row: asyncpg.Record | None = await self._pool.fetchrow(
            f"SELECT {ANSWER_COLUMNS} FROM calls WHERE call_id = $1 AND token_id = $2 "
            f"AND request_id = $3 AND {BINDING}",
            call_id,
            token_id,
            request_id,
            timeout=5,
        )
        return row

    async def write(self, record: DecisionRecord, within: float | None = None) -> None:
        """Returns once the record is committed; raises DecisionLogUnavailable otherwise,
        or TimeoutError after `within` s (the record may still be committed then). A
        timer on the record's own future: a timeout scope costs a check several µs."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put_nowait((record, done))
        if within is None:
            await done
            return
        timer = loop.call_later(max(within, 0.0), _expire, done)
        try:
            await done
        finally:
            timer.cancel()

    async def _run(self) -> None:
        conn: PoolConnectionProxy[Any] | None = None
        try:
            while True:
                raise_if_stopping()
                first = await self._queue.get()
                batch = [first]
                while len(batch) < self._max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                try:
                    if conn is None:
                        conn = await self._pool.acquire(timeout=5)
                    started = time.perf_counter()
                    await self._insert(conn, [r for r, _ in batch])
                    metrics.DECISION_WRITE_SECONDS.observe(time.perf_counter() - started)
                except Exception as e:
                    # Whatever went wrong (the database gone, a connection the server ended,
                    # asyncpg confused by it), this batch fails closed and the writer lives on.
                    metrics.DECISION_WRITE_FAILURES.inc()
                    log.error("decision batch not stored: %s: %s", type(e).__name__, e)
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(DecisionLogUnavailable(str(e)))
                    await self._give_back(conn)
                    conn = None
                    continue
                metrics.DECISION_BATCH.observe(len(batch))
                for _, fut in batch:
                    if not fut.done():
                        fut.set_result(None)
        finally:
            await self._give_back(conn)

    async def _give_back(self, conn: PoolConnectionProxy[Any] | None) -> None:
        if conn is not None:
            try:
                await self._pool.release(conn, timeout=5)
            except Exception as e:  # the pool has closed the connection; nothing to do
                log.warning("decision writer connection not returned cleanly: %s", e)

    async def _insert(self, conn: PoolConnectionProxy[Any], records: list[DecisionRecord]) -> None:
        rows = [_row(r) for r in records]
        if len(rows) <= VALUES_UP_TO:
            params = [value for row in rows for value in row]
            await conn.execute(_INSERT_VALUES[len(rows)], *params, timeout=5)
        else:
            # One array per column, in the order of _INSERT_ARRAYS's parameters.
            await conn.execute(_INSERT_ARRAYS, *zip(*rows, strict=True), timeout=5)
