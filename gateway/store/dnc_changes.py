"""The numbered log of do-not-call changes, and what each process knows of it.

Every change to the list (a listing, an unlisting, an import batch, an expiry sweep, a
repair) takes the next number in the transaction that makes it, as its last statement,
and stores what it does to the Redis cache as the cache's lines. PostgreSQL announces
each number on `DNC_CHANNEL` when it commits. Redis records the number of the last change
its live generation holds (`dnc:current` "<generation> <buckets> <applied>").

A check hands the check script the number it requires: every change acknowledged before
the check started must be in Redis, else the check is denied as degraded. The number a
process requires (`KnownChanges.required`) is:
- a change this process acknowledged without getting it into Redis, at once;
- a change another process announced as acknowledged without Redis (`<seq> unapplied`),
  as soon as the announcement arrives (that process waits for it before answering);
- any other announced change, `REQUIRED_AFTER_SECONDS` after it was heard: by then its
  own process has put it into Redis, or Redis lost it (a restart with an older copy, a
  failover) and it must be replayed;
- everything PostgreSQL has, after the listening connection was (re)opened, since
  announcements made while it was away were lost. While it is away, nothing is known:
  `required` is `UNKNOWN` and every check is denied as degraded.
"""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gateway.core.aliases import Conn, Db

DNC_CHANNEL = "gateway_dnc"
UNAPPLIED = "unapplied"
REQUIRED_AFTER_SECONDS = 2.0
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
UNKNOWN = 2**53 - 1  # no cache can have applied this many changes: a check is degraded

# The next number, the change and its announcement: one statement, the transaction's last
# (the counter row stays locked until the commit, so numbers follow commit order).
_RECORD = f"""
WITH s AS (UPDATE dnc_change_seq SET value = value + 1 RETURNING value),
c AS (INSERT INTO dnc_changes (seq, kind, lines, numbers)
      SELECT value, $1, $2, $3 FROM s RETURNING seq)
SELECT seq, pg_notify('{DNC_CHANNEL}', seq::text) FROM c
"""

# For an import batch: the same, taken only when the batch added something; `packed` is a
# CTE of the statement it ends with (count n, lines).
RECORD_PACKED_SQL = f"""
s AS (UPDATE dnc_change_seq SET value = value + 1
      WHERE (SELECT n FROM packed) > 0 RETURNING value),
c AS (INSERT INTO dnc_changes (seq, kind, lines, numbers)
      SELECT s.value, 'import', packed.lines, packed.n FROM s, packed RETURNING seq)
SELECT packed.n, packed.lines, (SELECT seq FROM c),
       (SELECT pg_notify('{DNC_CHANNEL}', seq::text) FROM c)
FROM packed
"""


def cache_value(scope: str, expires_at: datetime | None) -> str:
    """The cache's value of an entry. The cache keeps expiries to the second, rounded up:
    an entry is never out of the cache's view before it expires (`CACHE_LINE_SQL` alike)."""
    code = "a" if scope == "all" else "m"
    if expires_at is None:
        return code
    return f"{code}|{-((_EPOCH - expires_at) // _SECOND)}"


def cache_line(e164: str, scope: str | None, expires_at: datetime | None = None) -> str:
    """One number's state as the cache's line; scope None takes the number out."""
    value = "" if scope is None else cache_value(scope, expires_at)
    return f"{e164.lstrip('+')} {value}\n"


async def record(conn: Conn, kind: str, lines: str, numbers: int) -> int:
    """Number and store a change, inside the transaction that makes it, as its last
    statement. Returns its number."""
    seq = await conn.fetchval(_RECORD, kind, lines, numbers)
    return int(seq)


async def take_number(conn: Conn) -> int:
    """The next number, for a change whose lines are read after it (a repair reads the
    numbers' states under the counter's lock, so no change can come between)."""
    return int(await conn.fetchval("UPDATE dnc_change_seq SET value = value + 1 RETURNING value"))


async def store_numbered(conn: Conn, seq: int, kind: str, lines: str, numbers: int) -> None:
    await conn.execute(
        "INSERT INTO dnc_changes (seq, kind, lines, numbers) VALUES ($1, $2, $3, $4)",
        seq,
        kind,
        lines,
        numbers,
    )
    await conn.execute("SELECT pg_notify($1, $2)", DNC_CHANNEL, str(seq))


async def latest(db: Db) -> int:
    return int(await db.fetchval("SELECT value FROM dnc_change_seq"))


@dataclass(frozen=True)
class Change:
    seq: int
    lines: str


async def read(db: Db, after: int, upto: int, limit: int) -> list[Change]:
    """The changes numbered after `after` up to `upto`, in order, at most `limit`."""
    rows = await db.fetch(
        "SELECT seq, lines FROM dnc_changes WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3",
        after,
        upto,
        limit,
    )
    return [Change(int(r["seq"]), str(r["lines"])) for r in rows]


async def prune(db: Db, before: datetime, limit: int = 10_000) -> int:
    """Forget changes made before `before` (a cache that is further behind is rebuilt
    whole); the newest is always kept. Returns how many were removed."""
    removed = await db.fetchval(
        "WITH gone AS (DELETE FROM dnc_changes WHERE seq IN (SELECT seq FROM dnc_changes "
        "WHERE made_at < $1 AND seq < (SELECT value FROM dnc_change_seq) "
        "ORDER BY seq LIMIT $2) RETURNING 1) SELECT count(*) FROM gone",
        before,
        limit,
    )
    return int(removed)


class KnownChanges:
    """The change numbers this process knows of (see the module's docstring)."""

    def __init__(self) -> None:
        self.latest = 0  # the newest number heard of
        self.listening = False
        self._required = 0
        self._maturing: collections.deque[tuple[float, int]] = collections.deque()
        self._echoes: collections.deque[int] = collections.deque(maxlen=1024)
        self._heard = asyncio.Event()  # set (and replaced) when an announcement arrives

    def required(self) -> int:
        """The number every check on this process must find applied in Redis."""
        if not self.listening:
            return UNKNOWN
        maturing = self._maturing
        if maturing:
            now = time.monotonic()
            while maturing and maturing[0][0] <= now:
                seq = maturing.popleft()[1]
                if seq > self._required:
                    self._required = seq
        return self._required

    def reset(self, seq: int) -> None:
        """Listening (again), and PostgreSQL's newest number is `seq`: require it all."""
        self._required = max(self._required, seq)
        self.latest = max(self.latest, seq)
        self._maturing.clear()
        self.listening = True

    def lost(self) -> None:
        """The listening connection is gone: announcements are being missed."""
        self.listening = False

    def must_have(self, seq: int) -> None:
        """This process acknowledged change `seq` without getting it into Redis."""
        self._required = max(self._required, seq)
        self.latest = max(self.latest, seq)

    def heard(self, payload: str) -> None:
        """An announcement: "<seq>" when a change committed, "<seq> unapplied" when it was
        acknowledged without reaching Redis."""
        number, _, flag = payload.partition(" ")
        try:
            seq = int(number)
        except ValueError:
            return
        self.latest = max(self.latest, seq)
        if flag == UNAPPLIED:
            self._required = max(self._required, seq)
            self._echoes.append(seq)
        else:
            self._maturing.append((time.monotonic() + REQUIRED_AFTER_SECONDS, seq))
        heard, self._heard = self._heard, asyncio.Event()
        heard.set()

    async def echoed(self, seq: int) -> None:
        """Returns once the announcement that `seq` is unapplied came back (the caller
        bounds the wait)."""
        while seq not in self._echoes:
            await self._heard.wait()


ECHO_SECONDS = 1.0


async def announce_unapplied(db: Db, known: KnownChanges, seq: int) -> bool:
    """Tell every process that change `seq` is acknowledged but not in Redis; True once
    the announcement came back to this process (so PostgreSQL has sent it to all), False
    when it did not within ECHO_SECONDS or this process does not listen."""
    known.must_have(seq)
    await db.execute("SELECT pg_notify($1, $2)", DNC_CHANNEL, f"{seq} {UNAPPLIED}")
    if not known.listening:
        return False  # a process without a listener (the command line) cannot hear it
    try:
        async with asyncio.timeout(ECHO_SECONDS):
            await known.echoed(seq)
    except TimeoutError:
        return False
    return True
