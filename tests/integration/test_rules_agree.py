"""The two halves of each fact rule agree: the do-not-call scope rule and the attempt caps
are written in Python (gateway.policy) and again in the check script (precheck.lua).

On generated states (a do-not-call entry, earlier attempts, a purpose, caps and the purposes
they count, a moment) the
real script runs against a real Redis, first read-only ("peek") and then counting
("check"), and its facts and verdict are compared with what the Python rules make of the
same state. The Python rules are the reference.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from itertools import count
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from redis import Redis

from gateway.policy import (
    DncScope,
    FactQuery,
    Facts,
    Purpose,
    build_context,
    fact_query,
    judge,
    static_reasons,
)
from gateway.policy.document import DEFAULT_POLICY, FrequencyPolicy
from gateway.policy.facts import epoch_ms
from gateway.policy.numbers import CHINA_TZ
from gateway.policy.rules.dnc import dnc_reasons
from gateway.policy.rules.frequency import frequency_reasons
from gateway.store.check_script import script_query, script_reply
from gateway.store.dnc_changes import cache_line
from gateway.store.keys import Keys
from gateway.store.scripts import digits, lua
from tests.support.databases import REDIS_URL
from tests.unit.policy import world

CST = timezone(timedelta(hours=8))
DAY_MS = 86_400_000
GENERATION = 7  # of the do-not-call cache
PURPOSES: tuple[Purpose, ...] = ("marketing", "appointment", "callback", "service")


@dataclass(frozen=True)
class Entry:
    scope: DncScope
    expires_at: datetime | None


@dataclass(frozen=True)
class State:
    callee: str  # a mainland mobile, national form
    purpose: Purpose
    now: datetime  # in UTC+8
    entry: Entry | None
    attempts: tuple[int, ...]  # epoch ms
    per_day: int | None
    per_7_days: int | None
    min_gap_minutes: int
    buckets: int
    neighbours: tuple[DncScope, ...]  # entries of numbers sharing the callee's bucket or field
    frequency_purposes: tuple[Purpose, ...] = PURPOSES  # the purposes the caps count


def _local_midnight_ms(moment: datetime, days_back: int) -> int:
    day = moment.astimezone(CST).date() - timedelta(days=days_back)
    return epoch_ms(datetime(day.year, day.month, day.day, tzinfo=CST))


@st.composite
def states(draw: Any) -> State:
    callee = draw(st.sampled_from(["138", "139", "150", "186", "199", "170"])) + draw(
        st.from_regex(r"\A[0-9]{8}\Z")
    )
    now = draw(
        st.datetimes(
            min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(CST)
        )
    )
    now_ms = epoch_ms(now)
    gap = draw(st.integers(0, 600))
    # Times around the edges that matter: local midnights, the gap, now itself.
    edges = [
        _local_midnight_ms(now, 0),
        _local_midnight_ms(now, 6),
        _local_midnight_ms(now, 7),
        now_ms - gap * 60_000,
        now_ms,
    ]
    kinds = {
        "spread": st.integers(now_ms - 8 * DAY_MS, now_ms),
        "edge": st.builds(lambda e, d: e + d, st.sampled_from(edges), st.sampled_from([-1, 0, 1])),
        "ahead": st.integers(now_ms - 1, now_ms + 5_000),  # another process's clock
    }
    attempt = st.sampled_from(["spread"] * 4 + ["edge"] * 2 + ["ahead"]).flatmap(kinds.get)
    # Often one attempt right at the gap's edge.
    near_gap = st.lists(
        st.sampled_from([-1, 0, 1]).map(lambda d: now_ms - gap * 60_000 + d), max_size=1
    )
    expiry = st.one_of(
        st.none(),
        st.integers(-3_000_000, 3_000_000),  # µs around now
        st.integers(-10 * DAY_MS * 1000, 200 * DAY_MS * 1000),
    ).map(lambda us: None if us is None else now + timedelta(microseconds=us))
    entry = draw(
        st.one_of(
            st.none(),
            st.builds(Entry, st.sampled_from(["marketing", "all"]), expiry),
        )
    )
    return State(
        callee=callee,
        purpose=draw(st.sampled_from(PURPOSES)),
        now=now,
        entry=entry,
        attempts=tuple(sorted(draw(st.lists(attempt, max_size=7)) + draw(near_gap))),
        per_day=draw(st.none() | st.integers(1, 5)),
        per_7_days=draw(st.none() | st.integers(1, 10)),
        min_gap_minutes=gap,
        buckets=draw(st.sampled_from([1024, 4096, 1 << 20])),
        neighbours=tuple(draw(st.lists(st.sampled_from(["marketing", "all"]), max_size=3))),
        frequency_purposes=(
            "marketing",
            "appointment",
            *draw(st.lists(st.sampled_from(["callback", "service"]), unique=True)),
        ),
    )


# --- the Python side --------------------------------------------------------------------


def in_force(entry: Entry | None, now: datetime) -> DncScope | None:
    """The entry's scope while it is in force: not expired (as PostgreSQL sees it)."""
    if entry is None or (entry.expires_at is not None and entry.expires_at <= now):
        return None
    return entry.scope


def _second_up(moment: datetime) -> datetime:
    return moment + (-moment.microsecond % 1_000_000) * timedelta(microseconds=1)


def python_facts(state: State, q: FactQuery) -> Facts:
    """The facts as the Python rules see the state. The cache keeps expiries to the
    second, rounded up: an entry expiring within a second is in force to its end, never
    less. Attempts are counted by their local day in the callee's zone (Asia/Shanghai)."""
    entry = state.entry
    if entry is not None and entry.expires_at is not None:
        entry = Entry(entry.scope, _second_up(entry.expires_at))
    scope = in_force(entry, state.now)
    if not q.counts_attempts:
        return Facts(dnc_scope=scope)
    today = state.now.astimezone(CST).date()

    def local_day(ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, CST).date()

    return Facts(
        dnc_scope=scope,
        attempts_today=sum(1 for t in state.attempts if local_day(t) >= today),
        attempts_7_days=sum(1 for t in state.attempts if local_day(t) >= today - timedelta(days=6)),
        last_attempt_ms=max(state.attempts, default=None),
    )


def allowed_to_count(state: State, q: FactQuery, facts: Facts) -> bool:
    """Whether a check with every other rule passing counts this attempt."""
    return (
        q.counts_attempts
        and not dnc_reasons(q.e164, state.purpose, facts)
        and not frequency_reasons(q, facts)
    )


# --- the script side --------------------------------------------------------------------


class Rig:
    """One connection to Redis and the real scripts; each example gets its own keys."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self.precheck = redis.register_script(lua("precheck.lua"))
        self.dnc_change = redis.register_script(lua("dnc_change.lua"))
        self._examples = count()

    def keys(self) -> Keys:
        return Keys(f"{self.prefix}{next(self._examples)}:")

    def write(self, keys: Keys, state: State, e164: str) -> int:
        """The state as the cache and the check script keep it; returns the number of the
        do-not-call change the cache has applied."""
        self.redis.set(keys.dnc_current, f"{GENERATION} {state.buckets} 0")
        lines = "".join(
            cache_line(f"+{other}", scope)
            for other, scope in zip(self.neighbours(state, e164), state.neighbours, strict=False)
        )
        if state.entry is not None:
            lines += cache_line(e164, state.entry.scope, state.entry.expires_at)
        applied = self.dnc_change(
            keys=[keys.dnc_current], args=[f"{keys.prefix}dnc:", "0", "1", lines]
        )
        assert applied == 1
        if state.attempts:
            self.redis.zadd(
                keys.attempts(e164), {f"earlier-{i}": t for i, t in enumerate(state.attempts)}
            )
        return 1

    @staticmethod
    def neighbours(state: State, e164: str) -> list[int]:
        """Numbers in the callee's bucket, and one with the same field in the next."""
        n = digits(e164)
        return [n + state.buckets, n - state.buckets, n + 1]

    def used(self, keys: Keys, state: State, e164: str) -> list[str]:
        buckets = {(n % state.buckets) for n in [digits(e164), *self.neighbours(state, e164)]}
        return [
            keys.dnc_current,
            keys.attempts(e164),
            *(keys.dnc_bucket(GENERATION, b) for b in sorted(buckets)),
        ]

    def run(
        self, keys: Keys, q: FactQuery, mode: str, others_pass: bool, required: int, member: str
    ) -> tuple[str, Facts, bool]:
        assert q.e164 is not None
        raw = self.precheck(
            keys=[keys.dnc_current, keys.attempts(q.e164), ""],
            args=[
                mode,
                str(digits(q.e164)),
                script_query(q, others_pass, required),
                member,
                "",
                f"{keys.prefix}dnc:",
                "",
            ],
        )
        status, facts, counted, _ = script_reply(raw)
        return status, facts, counted

    def dump(self, used: list[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key in used:
            kind = self.redis.type(key)
            if kind == b"zset":
                found[key] = self.redis.zrange(key, 0, -1, withscores=True)
            elif kind == b"hash":
                found[key] = self.redis.hgetall(key)
            else:
                found[key] = self.redis.get(key)
        return found

    def clear(self, used: list[str]) -> None:
        self.redis.delete(*used)


@pytest.fixture(scope="module")
def rig() -> Iterator[Rig]:
    redis = Redis.from_url(REDIS_URL)
    prefix = f"gwtest:{os.getpid()}:{secrets.token_hex(4)}:agree:"
    try:
        yield Rig(redis, prefix)
    finally:
        stale = list(redis.scan_iter(match=prefix + "*", count=1000))
        if stale:
            redis.delete(*stale)
        redis.close()


def _query(state: State) -> tuple[Any, FactQuery]:
    policy = msgspec.structs.replace(
        DEFAULT_POLICY,
        frequency=FrequencyPolicy(
            per_day=state.per_day,
            per_7_days=state.per_7_days,
            min_gap_minutes=state.min_gap_minutes,
        ),
        frequency_purposes=state.frequency_purposes,
    )
    request = world.request(state.purpose, callee=state.callee)
    ctx = build_context(request, state.now, world.snapshot(policy=policy))
    assert ctx.callee is not None and ctx.callee.tz == CHINA_TZ
    return ctx, fact_query(ctx)


@settings(max_examples=200, deadline=None)
# An entry that expires within the second of the check: the cache once kept its expiry
# rounded down and let the call through up to a second early.
@example(
    state=State(
        callee="13800000000",
        purpose="marketing",
        now=datetime(2026, 1, 1, tzinfo=CST),
        entry=Entry("marketing", datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=CST)),
        attempts=(),
        per_day=None,
        per_7_days=None,
        min_gap_minutes=0,
        buckets=1024,
        neighbours=(),
    )
)
@given(state=states())
# The last attempt exactly the minimum gap ago: the gap is kept, the attempt counts.
@example(
    state=State(
        callee="13812345678",
        purpose="appointment",
        now=datetime(2026, 11, 23, 10, 0, tzinfo=CST),
        entry=None,
        attempts=(epoch_ms(datetime(2026, 11, 23, 6, 0, tzinfo=CST)),),
        per_day=None,
        per_7_days=None,
        min_gap_minutes=240,
        buckets=1024,
        neighbours=(),
    )
)
# A return visit is counted and capped as a sales call is; with callback left out of the
# policy's purposes it is neither.
@example(
    state=State(
        callee="13812345678",
        purpose="callback",
        now=datetime(2026, 11, 23, 10, 0, tzinfo=CST),
        entry=None,
        attempts=(epoch_ms(datetime(2026, 11, 23, 9, 0, tzinfo=CST)),),
        per_day=1,
        per_7_days=None,
        min_gap_minutes=0,
        buckets=1024,
        neighbours=(),
    )
)
@example(
    state=State(
        callee="13812345678",
        purpose="callback",
        now=datetime(2026, 11, 23, 10, 0, tzinfo=CST),
        entry=None,
        attempts=(epoch_ms(datetime(2026, 11, 23, 9, 0, tzinfo=CST)),),
        per_day=1,
        per_7_days=None,
        min_gap_minutes=0,
        buckets=1024,
        neighbours=(),
        frequency_purposes=("marketing", "appointment", "service"),
    )
)
def test_the_script_and_the_python_rules_agree(rig: Rig, state: State) -> None:
    ctx, q = _query(state)
    assert q.e164 is not None
    expected = python_facts(state, q)
    keys = rig.keys()
    used = rig.used(keys, state, q.e164)
    try:
        required = rig.write(keys, state, q.e164)
        before = rig.dump(used)

        # Read-only, as a simulation asks.
        status, facts, counted = rig.run(keys, q, "peek", False, required, "")
        assert status == "ok", state
        assert not counted, state
        assert rig.dump(used) == before, f"peek changed Redis: {state}"
        assert facts.dnc_scope == expected.dnc_scope, (facts, expected, state)
        strict = in_force(state.entry, state.now)
        assert strict is None or facts.dnc_scope == strict, f"dropped before expiry: {state}"
        assert bool(dnc_reasons(q.e164, state.purpose, facts)) == bool(
            dnc_reasons(q.e164, state.purpose, expected)
        ), state
        assert (facts.attempts_today, facts.attempts_7_days, facts.last_attempt_ms) == (
            expected.attempts_today,
            expected.attempts_7_days,
            expected.last_attempt_ms,
        ), (facts, expected, state)
        static = static_reasons(ctx)
        assert judge(ctx, static, facts, q).reasons == judge(ctx, static, expected, q).reasons, (
            state
        )

        # Counting, with every other rule passing: the attempt is counted exactly when the
        # Python rules allow it.
        status, facts, counted = rig.run(keys, q, "check", True, required, "this-call")
        assert status == "ok", state
        assert (facts.dnc_scope, facts.attempts_today, facts.attempts_7_days) == (
            expected.dnc_scope,
            expected.attempts_today,
            expected.attempts_7_days,
        ), (facts, expected, state)
        allowed = allowed_to_count(state, q, expected)
        assert counted == allowed, (counted, expected, state)
        kept = [(f"earlier-{i}".encode(), float(t)) for i, t in enumerate(state.attempts)]
        if q.counts_attempts:  # a counting check forgets attempts older than its 7 days
            kept = [(m, t) for m, t in kept if t >= q.week_start_ms]
        if counted:
            kept.append((b"this-call", float(q.now_ms)))
        stored = rig.redis.zrange(keys.attempts(q.e164), 0, -1, withscores=True)
        assert sorted(stored, key=lambda a: (a[1], a[0])) == sorted(
            kept, key=lambda a: (a[1], a[0])
        ), state
    finally:
        rig.clear(used)
