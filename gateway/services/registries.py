"""The registries: caller ids, scripts, agents and their customer registers, campaigns,
approved call lists, staff numbers, the calendar and the policy document.

Every change is one audited unit of work: the change and its audit entry in one
transaction with a registry version bump (every process is notified when it commits),
then the change is reloaded here before the caller hears back."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar

import asyncpg
import msgspec

from gateway.core.aliases import Conn
from gateway.core.errors import Conflict, InvalidRequest, InvalidState, NotFound
from gateway.policy import PolicyDocument
from gateway.policy.context import zone
from gateway.policy.days import (
    CoveredBy,
    built_in_covers,
    built_in_years,
    covered_by,
    covered_until,
)
from gateway.policy.numbers import CHINA_TZ
from gateway.store import audit, rows
from gateway.store import registry_rows as store
from gateway.store.registry_cache import RegistryCache

log = logging.getLogger("gateway.registries")

T = TypeVar("T")

Change = Callable[[Conn], Awaitable[T]]
# A check of a PATCH against the row it changes: (before, changes), raising to refuse.
PatchCheck = Callable[[dict[str, Any], dict[str, Any]], None]


class YearOut(msgspec.Struct, kw_only=True):
    """A year's calendar: whether checks on its days can be judged, and why."""

    year: int
    covered: bool
    covered_by: CoveredBy | None  # the built-in calendar wins over a declaration
    complete: bool | None  # the admin's declaration; None when never declared
    entries: int  # calendar entries (PUT /v1/holidays/{day}) in the year
    holidays: int  # of those, days of kind holiday
    declared_by: str | None
    declared_at: datetime | None
    note: str | None


class YearsOut(msgspec.Struct, kw_only=True):
    covered_until: date | None  # the last day of the covered run from today's year on
    items: list[YearOut]


# Calendar changes of one year wait for each other, so a declaration and the removal of
# the year's last holiday cannot both pass their checks.
_YEAR_LOCK = "SELECT pg_advisory_xact_lock(hashtext('gateway.holiday_year'), $1)"
_COUNTS = (
    "SELECT extract(year FROM day)::int AS year, count(*) AS entries, "
    "count(*) FILTER (WHERE kind = 'holiday') AS holidays FROM holidays"
)
_IN_YEAR = " WHERE day >= make_date($1, 1, 1) AND day < make_date($1 + 1, 1, 1)"


def _year_out(
    year: int, declared: Mapping[str, Any] | None, counts: Mapping[str, Any] | None
) -> YearOut:
    complete = None if declared is None else bool(declared["complete"])
    by = covered_by(year, {year} if complete else ())
    return YearOut(
        year=year,
        covered=by is not None,
        covered_by=by,
        complete=complete,
        entries=0 if counts is None else counts["entries"],
        holidays=0 if counts is None else counts["holidays"],
        declared_by=None if declared is None else declared["declared_by"],
        declared_at=None if declared is None else declared["declared_at"],
        note=None if declared is None else declared["note"],
    )


async def _keeps_a_holiday(conn: Conn, year: int) -> None:
    """Refuse a change that leaves a declared year outside the built-in calendar with no
    holiday entry: the year would stay covered with every day judged by the weekday."""
    if built_in_covers(year):
        return
    if not await conn.fetchval("SELECT complete FROM holiday_years WHERE year = $1", year):
        return
    holidays = await conn.fetchval(
        "SELECT count(*) FROM holidays" + _IN_YEAR + " AND kind = 'holiday'", year
    )
    if holidays == 0:
        raise InvalidState(
            f"{year} is declared complete and this is its last holiday entry: declare "
            f"the year incomplete first (PUT /v1/holidays/years/{year})"
        )


class Registries:
    def __init__(
        self, pool: asyncpg.Pool[Any], cache: RegistryCache, clock: Callable[[], datetime]
    ) -> None:
        self._pool = pool
        self._cache = cache
        self._clock = clock

    # --- the unit of work -----------------------------------------------------------------

    async def change(self, part: str, change: Change[T]) -> T:
        """Run `change` and the version bump of `part` in one transaction, then reload
        `part` here (other processes reload on the notification)."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                result = await change(conn)
                await store.bump(conn, part)
        except asyncpg.DataError as e:
            # The handlers check every value first; this is the net for one they missed
            # (a value PostgreSQL cannot store is bad input, never a 500).
            log.warning("registry change refused by the database: %s", e)
            raise InvalidRequest(f"a value cannot be stored: {e}") from e
        await self._cache.reload(part)
        return result

    # --- generic rows ---------------------------------------------------------------------

    async def all_rows(self, table: str, order: Sequence[str]) -> list[dict[str, Any]]:
        """Every row of a registry table, in `order`."""
        return [rows.as_dict(r) for r in await rows.fetch_all(self._pool, table, order)]

    async def create(
        self,
        actor: str,
        table: str,
        part: str,
        entity: str,
        entity_id: str,
        values: dict[str, Any],
    ) -> dict[str, Any]:
        """Insert a row, audited; Conflict when one with its key exists."""

        async def change(conn: Conn) -> dict[str, Any]:
            row = await rows.insert(conn, table, values)
            if row is None:
                raise Conflict(f"{entity} {entity_id} exists")
            after = rows.as_dict(row)
            await audit.record(
                conn, actor=actor, action="create", entity=entity, entity_id=entity_id, after=after
            )
            return after

        return await self.change(part, change)

    async def patch(
        self,
        actor: str,
        table: str,
        part: str,
        entity: str,
        keys: dict[str, Any],
        changes: dict[str, Any],
        check: PatchCheck | None = None,
    ) -> dict[str, Any]:
        """Change a row, audited; NotFound when there is none. An empty change answers
        the row as it is."""
        entity_id = "/".join(str(v) for v in keys.values())

        async def change(conn: Conn) -> dict[str, Any]:
            before = await rows.fetch_one(conn, table, keys, lock=True)
            if before is None:
                raise NotFound(f"{entity} {entity_id} does not exist")
            if check is not None:
                check(rows.as_dict(before), changes)
            if not changes:
                return rows.as_dict(before)
            row = await rows.update(conn, table, keys, changes)
            assert row is not None
            after = rows.as_dict(row)
            await audit.record(
                conn,
                actor=actor,
                action="update",
                entity=entity,
                entity_id=entity_id,
                before=rows.as_dict(before),
                after=after,
            )
            return after

        return await self.change(part, change)

    async def remove(
        self,
        actor: str,
        table: str,
        keys: dict[str, Any],
        entity: str,
        part: str,
        missing: str,
    ) -> dict[str, Any]:
        """Delete one row, audited; NotFound with `missing` when there is none."""
        entity_id = "/".join(str(v) for v in keys.values())

        async def change(conn: Conn) -> dict[str, Any]:
            row = await rows.delete_one(conn, table, keys)
            if row is None:
                raise NotFound(missing)
            before = rows.as_dict(row)
            await audit.record(
                conn,
                actor=actor,
                action="delete",
                entity=entity,
                entity_id=entity_id,
                before=before,
            )
            return before

        return await self.change(part, change)

    # --- agents' customer registers -------------------------------------------------------

    async def replace_customers(self, actor: str, agent_id: str, numbers: list[str]) -> int:
        """Replace an agent's customer register; the count stored."""

        async def change(conn: Conn) -> int:
            if await rows.fetch_one(conn, "agents", {"agent_id": agent_id}, lock=True) is None:
                raise NotFound(f"agent {agent_id} does not exist")
            before = await conn.fetchval(
                "SELECT count(*) FROM agent_customers WHERE agent_id = $1", agent_id
            )
            await conn.execute("DELETE FROM agent_customers WHERE agent_id = $1", agent_id)
            await conn.copy_records_to_table(
                "agent_customers",
                records=[(agent_id, n) for n in numbers],
                columns=["agent_id", "number"],
            )
            await audit.record(
                conn,
                actor=actor,
                action="replace",
                entity="agent_customers",
                entity_id=agent_id,
                before={"count": before},
                after={"count": len(numbers)},
            )
            return len(numbers)

        return await self.change(f"agent:{agent_id}", change)

    # --- approved call lists --------------------------------------------------------------

    async def replace_list(
        self, actor: str, list_id: str, provenance: str, numbers: list[tuple[str]]
    ) -> tuple[bool, int]:
        """Replace an approved call list (made when new); whether it was new, and its size
        (the distinct numbers)."""

        async def change(conn: Conn) -> tuple[bool, int]:
            # Insert first, so two uploads of a new list cannot both take it for new.
            created = await conn.fetchval(
                "INSERT INTO call_lists (list_id, provenance, approved_by, size) "
                "VALUES ($1, $2, $3, 0) ON CONFLICT (list_id) DO NOTHING RETURNING true",
                list_id,
                provenance,
                actor,
            )
            before = None
            if not created:
                before = await rows.fetch_one(conn, "call_lists", {"list_id": list_id}, lock=True)
            await conn.execute("CREATE TEMP TABLE incoming_numbers (number text) ON COMMIT DROP")
            await conn.copy_records_to_table("incoming_numbers", records=numbers)
            await conn.execute("DELETE FROM call_list_numbers WHERE list_id = $1", list_id)
            size: int = await conn.fetchval(
                "WITH ins AS (INSERT INTO call_list_numbers (list_id, number) "
                "SELECT DISTINCT $1::text, number FROM incoming_numbers RETURNING 1) "
                "SELECT count(*) FROM ins",
                list_id,
            )
            row = await conn.fetchrow(
                "UPDATE call_lists SET provenance = $2, approved_by = $3, size = $4, "
                "updated_at = now() WHERE list_id = $1 RETURNING *",
                list_id,
                provenance,
                actor,
                size,
            )
            assert row is not None
            await audit.record(
                conn,
                actor=actor,
                action="create" if created else "replace",
                entity="call_list",
                entity_id=list_id,
                before=rows.as_dict(before) if before is not None else None,
                after=rows.as_dict(row),
            )
            return bool(created), size

        return await self.change(f"list:{list_id}", change)

    # --- staff numbers --------------------------------------------------------------------

    async def add_staff(self, actor: str, number: str, note: str | None) -> dict[str, Any]:
        values = {"number": number, "note": note, "created_by": actor}

        async def change(conn: Conn) -> dict[str, Any]:
            row = await rows.insert(conn, "staff_numbers", values)
            if row is None:
                raise Conflict(f"staff number {number} exists")
            after = rows.as_dict(row)
            await audit.record(
                conn,
                actor=actor,
                action="create",
                entity="staff_number",
                entity_id=number,
                after=after,
            )
            return after

        return await self.change("staff", change)

    async def remove_staff(self, actor: str, number: str) -> dict[str, Any]:
        return await self.remove(
            actor,
            "staff_numbers",
            {"number": number},
            "staff_number",
            "staff",
            f"staff number {number} is not registered",
        )

    # --- the calendar ---------------------------------------------------------------------

    async def years(self) -> YearsOut:
        """Each year's calendar: covered or not, by what, and its entries."""
        async with (
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
        ):
            declared = {r["year"]: r for r in await conn.fetch("SELECT * FROM holiday_years")}
            counts = {r["year"]: r for r in await conn.fetch(_COUNTS + " GROUP BY 1")}
        years = sorted({*built_in_years(), *declared, *counts})
        complete = {y for y, r in declared.items() if r["complete"]}
        today = self._clock().astimezone(zone(CHINA_TZ)).date()
        return YearsOut(
            covered_until=covered_until(today, complete),
            items=[_year_out(y, declared.get(y), counts.get(y)) for y in years],
        )

    async def declare_year(
        self, actor: str, year: int, complete: bool, note: str | None
    ) -> tuple[bool, YearOut]:
        """Declare a year's holiday schedule entered in full, or withdraw that; whether
        this was the year's first declaration, and the year."""

        async def change(conn: Conn) -> tuple[bool, YearOut]:
            await conn.execute(_YEAR_LOCK, year)
            before = await rows.fetch_one(conn, "holiday_years", {"year": year}, lock=True)
            counts = await conn.fetchrow(_COUNTS + _IN_YEAR + " GROUP BY 1", year)
            if complete and not built_in_covers(year) and not (counts and counts["holidays"]):
                raise InvalidState(
                    f"year: no holiday of {year} is entered; enter the State Council's "
                    f"schedule for {year} (PUT /v1/holidays/{{day}}) before declaring it "
                    "complete"
                )
            row = await conn.fetchrow(
                "INSERT INTO holiday_years (year, complete, note, declared_by) "
                "VALUES ($1, $2, $3, $4) ON CONFLICT (year) DO UPDATE SET "
                "complete = EXCLUDED.complete, note = EXCLUDED.note, "
                "declared_by = EXCLUDED.declared_by, declared_at = now() RETURNING *",
                year,
                complete,
                note,
                actor,
            )
            assert row is not None
            await audit.record(
                conn,
                actor=actor,
                action="update" if before is not None else "create",
                entity="holiday_year",
                entity_id=str(year),
                before=rows.as_dict(before) if before is not None else None,
                after=rows.as_dict(row),
            )
            return before is None, _year_out(year, row, counts)

        return await self.change("holidays", change)

    async def holidays(self, year: int | None) -> list[dict[str, Any]]:
        if year is None:
            found = await self._pool.fetch("SELECT * FROM holidays ORDER BY day")
        else:
            found = await self._pool.fetch(
                "SELECT * FROM holidays WHERE day >= make_date($1, 1, 1) "
                "AND day < make_date($1 + 1, 1, 1) ORDER BY day",
                year,
            )
        return [rows.as_dict(r) for r in found]

    async def set_day(
        self, actor: str, day: date, kind: str, name: str | None
    ) -> tuple[bool, dict[str, Any]]:
        """Set a day's type; whether the entry is new, and the entry."""

        async def change(conn: Conn) -> tuple[bool, dict[str, Any]]:
            await conn.execute(_YEAR_LOCK, day.year)
            # Insert first, so two settings of a new day cannot both take it for new; an
            # existing entry is locked and updated (and inserted again if it was just
            # removed).
            before = row = None
            for _ in range(3):
                row = await conn.fetchrow(
                    "INSERT INTO holidays (day, kind, name, updated_by) "
                    "VALUES ($1, $2, $3, $4) ON CONFLICT (day) DO NOTHING RETURNING *",
                    day,
                    kind,
                    name,
                    actor,
                )
                if row is not None:
                    break
                before = await rows.fetch_one(conn, "holidays", {"day": day}, lock=True)
                if before is not None:
                    row = await conn.fetchrow(
                        "UPDATE holidays SET kind = $2, name = $3, updated_by = $4, "
                        "updated_at = now() WHERE day = $1 RETURNING *",
                        day,
                        kind,
                        name,
                        actor,
                    )
                    break
            if row is None:
                raise Conflict(f"calendar entry for {day.isoformat()} is changing; try again")
            if kind != "holiday":
                await _keeps_a_holiday(conn, day.year)
            after = rows.as_dict(row)
            await audit.record(
                conn,
                actor=actor,
                action="update" if before is not None else "create",
                entity="holiday",
                entity_id=day.isoformat(),
                before=rows.as_dict(before) if before is not None else None,
                after=after,
            )
            return before is None, after

        return await self.change("holidays", change)

    async def remove_day(self, actor: str, day: date) -> dict[str, Any]:
        async def change(conn: Conn) -> dict[str, Any]:
            await conn.execute(_YEAR_LOCK, day.year)
            row = await rows.delete_one(conn, "holidays", {"day": day})
            if row is None:
                raise NotFound(f"no calendar entry for {day.isoformat()}")
            await _keeps_a_holiday(conn, day.year)
            before = rows.as_dict(row)
            await audit.record(
                conn,
                actor=actor,
                action="delete",
                entity="holiday",
                entity_id=day.isoformat(),
                before=before,
            )
            return before

        return await self.change("holidays", change)

    # --- the policy document --------------------------------------------------------------

    def policy(self) -> PolicyDocument:
        """The policy document in force."""
        return self._cache.current.policy

    async def replace_policy(self, actor: str, doc: PolicyDocument) -> PolicyDocument:
        """Replace the policy document (checked by the caller); the one now in force."""

        async def change(conn: Conn) -> None:
            before = await conn.fetchval("SELECT document FROM policy_document")
            document = msgspec.to_builtins(doc)
            await conn.execute(
                "INSERT INTO policy_document (id, document, updated_by) "
                "VALUES (true, $1, $2) "
                "ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document, "
                "updated_by = EXCLUDED.updated_by, updated_at = now()",
                document,
                actor,
            )
            await audit.record(
                conn,
                actor=actor,
                action="replace",
                entity="policy",
                entity_id="policy",
                before=before or msgspec.to_builtins(self._cache.current.policy),
                after=document,
            )

        await self.change("policy", change)
        return self._cache.current.policy
