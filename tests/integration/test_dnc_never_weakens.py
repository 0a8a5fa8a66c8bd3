"""The property against the real service and PostgreSQL: no sequence of listings (a
supervisor's PUT, an import, an opt-out), nor a replace or an end without consent while a
refusal is protected, ever unblocks a (purpose, moment) pair that was blocked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.appkeys import DNC_LIST, PG
from gateway.core.errors import InvalidRequest, RefusalProtected
from gateway.policy.dnc_merge import Protection, blocks, is_protected
from gateway.policy.types import PURPOSES
from gateway.services.dnc_list import DncList
from tests.integration.tenant import mobile

T = TypeVar("T")
CHINA = ZoneInfo("Asia/Shanghai")

scopes = st.sampled_from(["all", "marketing"])
days_on = st.one_of(st.none(), st.integers(min_value=1, max_value=400))
step = st.tuples(
    st.sampled_from(["put", "import", "opt_out", "refusal", "replace", "end"]), scopes, days_on
)


async def _lines(line: str) -> AsyncIterator[tuple[int, list[str]]]:
    yield 1, [line]


async def _apply(dnc: DncList, number: str, kind: str, scope: str, expires: Any) -> None:
    if kind == "import":
        day = "" if expires is None else expires.astimezone(CHINA).date().isoformat()
        await dnc.import_lines(
            _lines(f"{number},imported,{day}"), scope=scope, source="import:t", actor="t"
        )
    elif kind == "replace":
        await dnc.replace(
            number,
            scope=scope,
            source="supervisor",
            actor="t",
            reason="replace",
            expires_at=expires,
            consent_evidence=None,
        )
    elif kind == "end":
        await dnc.remove(number, actor="t", reason="end")
    else:
        refusal = kind in ("opt_out", "refusal")
        await dnc.add(
            number,
            scope=scope,
            source="customer_refusal" if refusal else "supervisor",
            actor="t",
            reason=kind,
            expires_at=expires,
        )


async def _active(app: Any, number: str) -> tuple[Protection | None, datetime]:
    row = await app[PG].fetchrow(
        "SELECT scope, expires_at, refusal_made_at, now() AS now FROM dnc_entries "
        "WHERE number = $1 AND ended_at IS NULL",
        number,
    )
    if row is None:
        return None, await app[PG].fetchval("SELECT now()")
    return Protection(row["scope"], row["expires_at"], row["refusal_made_at"]), row["now"]


def _lost(before: Protection | None, after: Protection | None, now: datetime) -> list[Any]:
    moments = [now, now + timedelta(days=3650)]
    for e in (before, after):
        if e is not None and e.expires_at is not None:
            moments += [e.expires_at - timedelta(seconds=1), e.expires_at]
    return [
        (p, t)
        for p in PURPOSES
        for t in moments
        if t >= now and blocks(before, p, t) and not blocks(after, p, t)
    ]


async def test_the_service_never_unblocks_a_call_without_replace_or_consent(client: Any) -> None:
    app = client.server.app
    dnc: DncList = app[DNC_LIST]
    loop = asyncio.get_running_loop()
    seen = {"steps": 0, "refused": 0}

    def run(work: Awaitable[T]) -> T:
        async def wrapped() -> T:
            return await work

        return asyncio.run_coroutine_threadsafe(wrapped(), loop).result(timeout=30)

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(steps=st.lists(step, min_size=1, max_size=6))
    def sequence(steps: list[tuple[str, str, int | None]]) -> None:
        number = "+86" + mobile()
        for kind, scope, days in steps:
            before, now = run(_active(app, number))
            expires = None if days is None else now + timedelta(days=days)
            protected = before is not None and is_protected(before, now)
            try:
                run(_apply(dnc, number, kind, scope, expires))
            except (RefusalProtected, InvalidRequest):
                seen["refused"] += 1
            after, _ = run(_active(app, number))
            seen["steps"] += 1
            if kind in ("replace", "end") and not protected:
                continue  # outside a refusal's protection these may weaken
            assert not _lost(before, after, now), (kind, scope, days, before, after)

    await asyncio.to_thread(sequence)
    assert seen["steps"] > 0 and seen["refused"] > 0, seen
