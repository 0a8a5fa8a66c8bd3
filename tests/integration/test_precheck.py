"""The pre-call check over HTTP, against real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from gateway.core.ids import uuid7_text
from tests.integration.tenant import OPEN_POLICY, Tenant, codes, e164, mobile, until
from tests.support.clock import Clock
from tests.support.headers import bearer

pytestmark = pytest.mark.asyncio


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build()


async def list_on_dnc(client: Any, number: str, scope: str = "marketing") -> None:
    from gateway.appkeys import DNC_LIST

    await client.server.app[DNC_LIST].add(
        number, scope=scope, source="supervisor", actor="test", reason=None
    )


async def test_allowed_marketing_call(tenant: Tenant, db: Any) -> None:
    answer = await tenant.precheck(tenant.marketing())
    assert answer["decision"] == "allow"
    assert answer["reasons"] == []
    assert answer["callee_e164"] == e164(tenant.listed[0])
    assert answer["recording_required"] is True
    assert answer["valid_until"] == "2026-11-23T10:01:00+08:00"
    assert answer["policy_version"].startswith("r")
    row = await db.fetchrow("SELECT * FROM calls WHERE call_id = $1::uuid", answer["call_id"])
    assert row["decision"] == "allow"
    assert row["token_name"] == "test-dialer"
    assert row["request"]["callee"] == tenant.listed[0]


async def test_denied_call_lists_every_reason(tenant: Tenant, clock: Clock, db: Any) -> None:
    number = tenant.listed[1]
    await list_on_dnc(tenant.client, e164(number))
    clock.set("2026-11-23T21:30:00+08:00")
    answer = await tenant.precheck(tenant.marketing(number, script_version=9))
    assert answer["decision"] == "deny"
    assert codes(answer) == {"dnc_listed", "outside_calling_hours", "script_not_approved"}
    for reason in answer["reasons"]:
        assert reason["rule"] and reason["message"]
    stored = await db.fetchval(
        "SELECT reasons FROM calls WHERE call_id = $1::uuid", answer["call_id"]
    )
    assert {r["code"] for r in stored} == codes(answer)


async def test_every_accepted_format_gives_the_same_number(tenant: Tenant) -> None:
    n = tenant.listed[2]
    for written in (n, f"+86 {n[:3]} {n[3:7]} {n[7:]}", f"0086-{n[:3]}-{n[3:7]}-{n[7:]}"):
        answer = await tenant.precheck(tenant.marketing(written))
        assert answer["callee_e164"] == e164(n)


@pytest.mark.parametrize("callee", ["1381234567", "12345678", "95519", "4008001234", "abc"])
async def test_invalid_number_is_denied(tenant: Tenant, callee: str) -> None:
    answer = await tenant.precheck(tenant.marketing(callee))
    assert "invalid_number" in codes(answer)
    assert answer["callee_e164"] is None or callee == "4008001234"


async def test_staff_number_is_never_a_customer(tenant: Tenant) -> None:
    number = tenant.listed[3]
    await tenant.ok("POST", "/v1/staff-numbers", json={"number": number, "note": "branch"})
    answer = await tenant.precheck(tenant.marketing(number))
    assert codes(answer) == {"staff_number"}


async def test_unregistered_caller_id(tenant: Tenant) -> None:
    answer = await tenant.precheck(tenant.marketing(caller_id="010-87654321"))
    assert codes(answer) == {"caller_id_not_registered"}


async def test_draft_script_is_not_approved(tenant: Tenant) -> None:
    await tenant.ok(
        "POST",
        "/v1/scripts",
        json={"script_id": tenant.script, "version": 2, "title": "t", "text": "x"},
    )
    answer = await tenant.precheck(tenant.marketing(script_version=2))
    assert codes(answer) == {"script_not_approved"}


async def test_lapsed_training_stops_the_agent(tenant: Tenant) -> None:
    await tenant.ok(
        "PATCH", f"/v1/agents/{tenant.agent}", json={"training_valid_until": "2026-11-22"}
    )
    answer = await tenant.precheck(tenant.marketing())
    assert codes(answer) == {"agent_not_authorized"}


async def test_appointment_only_to_own_customers(tenant: Tenant) -> None:
    allowed = await tenant.precheck(tenant.appointment(tenant.customers[0]))
    assert allowed["decision"] == "allow", allowed
    cold = await tenant.precheck(tenant.appointment(mobile()))
    assert codes(cold) == {"cold_call_forbidden"}


async def test_callback_not_by_the_seller(tenant: Tenant) -> None:
    number = mobile()
    ok = await tenant.precheck(tenant.callback(number, sold_by_agent_id=tenant.agent))
    assert ok["decision"] == "allow", ok
    answer = await tenant.precheck(tenant.callback(number, sold_by_agent_id=tenant.callback_agent))
    assert codes(answer) == {"callback_by_seller"}


async def test_callback_ignores_marketing_dnc_but_not_all(tenant: Tenant) -> None:
    number = mobile()
    await list_on_dnc(tenant.client, e164(number), "marketing")
    assert (await tenant.precheck(tenant.callback(number)))["decision"] == "allow"
    await list_on_dnc(tenant.client, e164(number), "all")
    assert codes(await tenant.precheck(tenant.callback(number))) == {"dnc_listed"}


async def test_inactive_campaign(tenant: Tenant) -> None:
    await tenant.ok("PATCH", f"/v1/campaigns/{tenant.campaign}", json={"active": False})
    answer = await tenant.precheck(tenant.marketing())
    assert codes(answer) == {"campaign_not_active"}


async def test_number_outside_the_approved_list(tenant: Tenant) -> None:
    answer = await tenant.precheck(tenant.marketing(mobile()))
    assert codes(answer) == {"not_in_approved_list"}


async def test_holiday_and_missing_calendar(tenant: Tenant, clock: Clock) -> None:
    clock.set("2026-10-01T10:00:00+08:00")
    assert codes(await tenant.precheck(tenant.marketing())) == {"holiday_blocked"}
    clock.set("2033-03-03T10:00:00+08:00")
    assert codes(await tenant.precheck(tenant.marketing())) == {"calendar_unavailable"}
    await tenant.ok("PUT", "/v1/holidays/2033-01-01", json={"kind": "holiday", "name": "元旦"})
    # One holiday entered is not the year's calendar.
    assert codes(await tenant.precheck(tenant.marketing())) == {"calendar_unavailable"}
    await tenant.ok("PUT", "/v1/holidays/years/2033", "admin", json={"complete": True})
    try:
        answer = await tenant.precheck(tenant.marketing())
        assert "calendar_unavailable" not in codes(answer)
    finally:
        await tenant.ok("PUT", "/v1/holidays/years/2033", "admin", json={"complete": False})


async def test_attempt_cap_and_denied_checks_count_nothing(tenant: Tenant) -> None:
    number = tenant.listed[4]
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    # A check denied for another reason consumes no attempt.
    denied = await tenant.precheck(tenant.marketing(number, script_version=7))
    assert codes(denied) == {"script_not_approved"}
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    third = await tenant.precheck(tenant.marketing(number))
    assert codes(third) == {"frequency_exceeded"}


async def test_concurrent_checks_never_pass_the_cap(tenant: Tenant) -> None:
    number = tenant.listed[5]
    answers = await asyncio.gather(*(tenant.precheck(tenant.marketing(number)) for _ in range(50)))
    allowed = [a for a in answers if a["decision"] == "allow"]
    assert len(allowed) == 2
    assert all(codes(a) == {"frequency_exceeded"} for a in answers if a["decision"] == "deny")


async def test_minimum_gap_between_attempts(tenant: Tenant, clock: Clock) -> None:
    policy = {**OPEN_POLICY, "frequency": {"per_day": 5, "per_7_days": 10, "min_gap_minutes": 240}}
    await tenant.ok("PUT", "/v1/policy", "admin", json=policy)
    number = tenant.listed[0]
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    clock.advance(minutes=239)
    assert codes(await tenant.precheck(tenant.marketing(number))) == {"frequency_exceeded"}
    clock.advance(minutes=1)
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"


async def test_request_id_replays_the_first_answer(tenant: Tenant, db: Any) -> None:
    body = tenant.marketing(tenant.listed[1], request_id=f"r-{tenant.suffix}")
    answers = await asyncio.gather(*(tenant.precheck(body) for _ in range(5)))
    assert len({a["call_id"] for a in answers}) == 1
    again = await tenant.precheck(body)
    assert again == answers[0]
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 1
    # Only one attempt was counted: a second, different check is still allowed.
    other = await tenant.precheck(tenant.marketing(tenant.listed[1]))
    assert other["decision"] == "allow"


async def test_request_id_retried_through_another_process_at_once_replays(
    tenant: Tenant, db: Any, make_client: Any, settings: Any, clock: Clock
) -> None:
    # The first process stores its answer with its next Redis command or within
    # LATER_SECONDS; a retry through another process meanwhile waits for it.
    other = await make_client(settings, clock)
    body = tenant.marketing(tenant.listed[4], request_id=f"o-{tenant.suffix}")
    first = await tenant.precheck(body)
    resp = await other.post("/v1/precheck", json=body, headers=bearer(tenant.tokens["dialer"]))
    assert resp.status == 200
    assert await resp.json() == first
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 1


async def test_a_stored_decision_gives_back_the_answer_a_retry_gets(
    tenant: Tenant, db: Any, clock: Clock
) -> None:
    # After Redis loses its data the answers are put back from `calls`: what they are
    # made from there must be, byte for byte, what the check left in Redis.
    from gateway.appkeys import KEYS, REDIS
    from gateway.store.answers import replay_from_decision

    app = tenant.client.server.app
    await list_on_dnc(tenant.client, e164(tenant.listed[2]))
    late, day = "2026-11-23T21:30:00+08:00", "2026-11-23T10:00:00+08:00"
    checks = [
        (late, tenant.marketing(tenant.listed[2], script_version=9)),  # three reasons
        (day, tenant.marketing("12345")),  # not a number: no callee_e164
        (day, {**tenant.marketing(), "agent_id": "坐席-07", "sold_by_agent_id": "李\u2028"}),
        (day, tenant.marketing(tenant.listed[3])),
        (day, tenant.callback("010-12345678")),
    ]
    bodies = []
    for i, (at, body) in enumerate(checks):
        clock.set(at)
        body["request_id"] = f"same-{i}-{tenant.suffix}"
        bodies.append(body)
        await tenant.precheck(body)
    assert codes(await tenant.precheck(bodies[0])) == {
        "dnc_listed",
        "outside_calling_hours",
        "script_not_approved",
    }
    token_id = tenant.tokens["dialer"].split("_")[1]
    redis = app[REDIS]
    for body in bodies:
        key = app[KEYS].idempotency(token_id, body["request_id"])

        async def stored(key: str = key) -> bytes | None:
            value: bytes | None = await redis.get(key)
            return value if value and value.startswith(b"D|") else None

        left = await until(stored)
        row = await db.fetchrow(
            "SELECT call_id::text AS call_id, decision, reasons::text AS reasons, "
            "request::text AS request, callee_e164, policy_version, valid_until, "
            "rules_revision, token_id "
            "FROM calls WHERE request_id = $1",
            body["request_id"],
        )
        assert row["token_id"] == token_id
        made = replay_from_decision(row)
        assert made == left, body


async def test_a_decision_that_cannot_be_made_an_answer_again_holds_up_no_rebuild(
    tenant: Tenant, db: Any, caplog: Any
) -> None:
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    token_id = tenant.tokens["dialer"].split("_")[1]
    await db.execute(
        "INSERT INTO calls (call_id, created_at, decision, reasons, request, caller_id, "
        "agent_id, purpose, policy_version, token_name, token_id, request_id, valid_until) "
        "VALUES (gen_random_uuid(), now(), 'allow', '[]', '{\"made\": \"by hand\"}', "
        "'x', 'x', 'service', 'r1', 'test-dialer', $1, $2, now())",
        token_id,
        f"hand-{tenant.suffix}",
    )
    body = tenant.marketing(request_id=f"kept-{tenant.suffix}")
    first = await tenant.precheck(body)
    keys = app[KEYS]
    await until(lambda: app[REDIS].exists(keys.idempotency(token_id, body["request_id"])))
    # Redis loses the answers and the do-not-call mirror.
    idem = [k async for k in app[REDIS].scan_iter(match=keys.prefix + "idem:*")]
    await app[REDIS].delete(keys.dnc_current, *idem)

    async def allowed() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[1]))
        return answer["decision"] == "allow"

    assert await until(allowed)
    assert await tenant.precheck(body) == first
    assert not await app[REDIS].exists(keys.idempotency(token_id, f"hand-{tenant.suffix}"))
    assert "answers not put back: unreadable" in caplog.text


async def test_after_a_rebuild_a_retry_gets_the_answer_redis_held_last(
    tenant: Tenant, clock: Clock
) -> None:
    # A request_id is checked twice only when its first answer did not stay in Redis
    # (here: removed); the second answer is then the one a retry gets, before and after
    # Redis loses its data.
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    keys, redis = app[KEYS], app[REDIS]
    token_id = tenant.tokens["dialer"].split("_")[1]
    body = tenant.marketing(request_id=f"twice-{tenant.suffix}")
    key = keys.idempotency(token_id, body["request_id"])

    async def answered() -> bool:
        return ((await redis.get(key)) or b"").startswith(b"D|")

    first = await tenant.precheck(body)
    assert await until(answered)
    await redis.delete(key)
    clock.advance(minutes=1)
    second = await tenant.precheck(body)
    assert second["call_id"] != first["call_id"]
    assert await until(answered)
    clock.advance(minutes=30)
    await redis.delete(key, keys.dnc_current)

    async def allowed() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[1]))
        return answer["decision"] == "allow"

    assert await until(allowed)
    assert await tenant.precheck(body) == second
    # For what was left of its day by the gateway's clock: 24 hours less 30 minutes.
    assert 84_600_000 - 5_000 < await redis.pttl(key) <= 84_600_000


async def test_a_retry_whose_first_request_ended_unanswered_gets_its_stored_answer(
    tenant: Tenant, db: Any
) -> None:
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    redis = app[REDIS]
    key = app[KEYS].idempotency(tenant.tokens["dialer"].split("_")[1], f"ended-{tenant.suffix}")
    body = tenant.marketing(request_id=f"ended-{tenant.suffix}")

    async def answer() -> bytes | None:
        value: bytes | None = await redis.get(key)
        return value if value and value.startswith(b"D|") else None

    first = await tenant.precheck(body)
    answered = await until(answer)
    # As if its process had ended after storing the decision, before the answer reached
    # Redis: only the pending marker is left.
    marker = b"P|" + answered.split(b"|")[1] + b"|" + first["call_id"].encode()
    await redis.set(key, marker, px=86_400_000)
    assert await tenant.precheck(body) == first
    assert await redis.get(key) == answered  # and there for the next retry at once
    assert 0 < await redis.pttl(key) <= 86_400_000
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 1


async def test_a_retry_while_the_first_request_is_unfinished_is_503(
    tenant: Tenant, db: Any
) -> None:
    import msgspec

    from gateway.appkeys import KEYS, REDIS
    from gateway.policy import CheckRequest
    from gateway.store.answers import body_hash, encode

    app = tenant.client.server.app
    body = tenant.marketing(request_id=f"unfinished-{tenant.suffix}")
    key = app[KEYS].idempotency(tenant.tokens["dialer"].split("_")[1], body["request_id"])
    digest = body_hash(encode(msgspec.convert(body, CheckRequest)))
    # Its decision not stored yet; a marker of an older version carries no call id.
    for marker in (f"P|{digest}|{uuid7_text()}", f"P|{digest}"):
        await app[REDIS].set(key, marker, px=30_000)
        status, answer = await tenant.call("POST", "/v1/precheck", "dialer", json=body)
        assert status == 503
        assert answer["error"]["code"] == "unavailable"
        assert "still running" in answer["error"]["message"]
        assert await app[REDIS].get(key) == marker.encode()
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 0


async def test_a_retry_a_day_later_gets_the_answer_its_dead_process_stored(
    tenant: Tenant, db: Any, clock: Clock
) -> None:
    """The process answered (its decision is in PostgreSQL) and died before the answer
    reached Redis; the retry comes long after any check could still be running: it gets
    the first answer at once, with no second decision."""
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    redis = app[REDIS]
    body = tenant.marketing(tenant.listed[2], request_id=f"dead-{tenant.suffix}")
    key = app[KEYS].idempotency(tenant.tokens["dialer"].split("_")[1], body["request_id"])
    first = await tenant.precheck(body)
    answered = await until(lambda: _answer_in(redis, key))
    marker = b"P|" + answered.split(b"|")[1] + b"|" + first["call_id"].encode()
    await redis.set(key, marker, px=86_400_000)
    clock.advance(hours=23)
    started = asyncio.get_running_loop().time()
    assert await tenant.precheck(body) == first
    assert asyncio.get_running_loop().time() - started < 1.0  # no wait: it has ended
    assert await redis.get(key) == answered
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 1


async def test_a_retry_after_a_first_request_that_stored_nothing_is_judged_afresh(
    tenant: Tenant, db: Any, clock: Clock
) -> None:
    """The first request's process died before its decision was stored (a 503 binds
    nothing): once it cannot be running any more, a retry takes its marker over and is
    judged, once."""
    import msgspec

    from gateway.appkeys import KEYS, REDIS
    from gateway.core.ids import uuid7_text
    from gateway.policy import CheckRequest
    from gateway.store.answers import body_hash, encode

    app = tenant.client.server.app
    body = tenant.marketing(tenant.listed[3], request_id=f"lost-{tenant.suffix}")
    key = app[KEYS].idempotency(tenant.tokens["dialer"].split("_")[1], body["request_id"])
    digest = body_hash(encode(msgspec.convert(body, CheckRequest)))
    lost = uuid7_text(int(clock().timestamp() * 1000))
    await app[REDIS].set(key, f"P|{digest}|{lost}", px=86_400_000)
    clock.advance(seconds=10)
    answer = await tenant.precheck(body)
    assert answer["decision"] == "allow"
    assert answer["call_id"] != lost
    assert await tenant.precheck(body) == answer  # and bound from now on
    rows = await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
    assert rows == 1


async def _answer_in(redis: Any, key: str) -> bytes | None:
    value: bytes | None = await redis.get(key)
    return value if value and value.startswith(b"D|") else None


async def test_a_check_run_twice_by_a_resent_command_is_judged_once(
    tenant: Tenant, clock: Clock
) -> None:
    # A command whose connection broke is sent again, and Redis may have run it already:
    # the second run must not wait for the first run's own pending marker, nor count the
    # attempt twice.
    import msgspec

    from gateway.appkeys import CHECKER, KEYS, REDIS, REGISTRIES
    from gateway.policy import CheckRequest, build_context, fact_query

    app = tenant.client.server.app
    checker, keys = app[CHECKER], app[KEYS]
    number = tenant.listed[1]
    await tenant.precheck(tenant.marketing(number))  # one of the day's two attempts
    body = tenant.marketing(number, request_id=f"resent-{tenant.suffix}")
    q = fact_query(
        build_context(msgspec.convert(body, CheckRequest), clock(), app[REGISTRIES].current)
    )
    key = keys.idempotency(tenant.tokens["dialer"].split("_")[1], body["request_id"])
    call_id = uuid7_text(q.now_ms)

    async def run(member: str) -> Any:
        return await checker._store.facts(
            q, others_pass=True, member=member, idem_key=key, digest="d" * 32, mode="check"
        )

    for _ in range(2):
        status, facts, counted, _ = await run(call_id)
        assert (status, counted, facts.attempts_today) == ("ok", True, 1)
    assert await app[REDIS].zcard(keys.attempts(e164(number))) == 2
    # Another request with the same request_id waits for it, and learns its call id.
    status, _, counted, stored = await run(uuid7_text(q.now_ms))
    assert (status, counted, stored) == ("pending", False, call_id.encode())


async def test_request_id_with_another_body_conflicts(tenant: Tenant) -> None:
    body = tenant.marketing(request_id=f"c-{tenant.suffix}")
    await tenant.precheck(body)
    status, answer = await tenant.call(
        "POST", "/v1/precheck", "dialer", json={**body, "callee": tenant.listed[2]}
    )
    assert status == 409
    assert answer["error"]["code"] == "request_id_conflict"


async def test_simulation_counts_and_records_nothing(tenant: Tenant, db: Any) -> None:
    number = tenant.listed[3]
    before = await db.fetchval("SELECT count(*) FROM calls")
    for _ in range(3):
        answer = await tenant.ok(
            "POST",
            "/v1/precheck/simulate",
            "auditor",
            json={**tenant.marketing(number), "at": "2026-11-24T21:30:00+08:00"},
        )
        assert answer["call_id"] is None
        assert codes(answer) == {"outside_calling_hours"}
        assert answer["valid_until"] == "2026-11-24T21:31:00+08:00"
    assert await db.fetchval("SELECT count(*) FROM calls") == before
    assert (await tenant.precheck(tenant.marketing(number)))["decision"] == "allow"
    audited = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'simulate' AND actor = 'test-auditor'"
    )
    assert audited >= 3


async def test_decision_that_cannot_be_stored_is_503(tenant: Tenant, db: Any) -> None:
    await db.execute(f"""
        CREATE FUNCTION refuse_{tenant.suffix}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.agent_id = '{tenant.agent}' THEN RAISE EXCEPTION 'disk full'; END IF;
        RETURN NEW; END $$;
        CREATE TRIGGER refuse_{tenant.suffix} BEFORE INSERT ON calls FOR EACH ROW
        EXECUTE FUNCTION refuse_{tenant.suffix}();""")
    try:
        status, answer = await tenant.call(
            "POST", "/v1/precheck", "dialer", json=tenant.marketing(request_id="x1")
        )
        assert status == 503
        assert answer["error"]["code"] == "unavailable"
    finally:
        await db.execute(f"DROP TRIGGER refuse_{tenant.suffix} ON calls")
    # Nothing was bound or counted: the retry is judged afresh and allowed, twice.
    assert (await tenant.precheck(tenant.marketing(request_id="x1")))["decision"] == "allow"
    assert (await tenant.precheck(tenant.marketing()))["decision"] == "allow"


async def test_dnc_cache_flushed_fails_closed_then_recovers(tenant: Tenant) -> None:
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    await app[REDIS].delete(app[KEYS].dnc_current)
    answer = await tenant.precheck(tenant.marketing())
    assert codes(answer) == {"gateway_degraded"}
    for _ in range(50):
        await asyncio.sleep(0.1)
        answer = await tenant.precheck(tenant.marketing(tenant.listed[2]))
        if answer["decision"] == "allow":
            break
    assert answer["decision"] == "allow"


async def test_redis_unreachable_denies_as_degraded(
    make_client: Any, settings: Any, clock: Clock, tokens: dict[str, str], client: Any
) -> None:
    import msgspec

    from gateway.core.settings import load_settings

    tenant = await Tenant(client, tokens).build()
    broken = load_settings(
        env={}, **{**msgspec.structs.asdict(settings), "redis_url": "redis://127.0.0.1:1/0"}
    )
    down = await make_client(broken, clock)
    resp = await down.post(
        "/v1/precheck", json=tenant.marketing(), headers=bearer(tokens["dialer"])
    )
    assert resp.status == 200
    answer = await resp.json()
    assert codes(answer) == {"gateway_degraded"}
    assert answer["call_id"]


async def test_registry_change_reaches_another_process(
    tenant: Tenant, make_client: Any, settings: Any, clock: Clock
) -> None:
    other = await make_client(settings, clock)
    headers = bearer(tenant.tokens["dialer"])
    resp = await other.post("/v1/precheck", json=tenant.marketing(), headers=headers)
    assert (await resp.json())["decision"] == "allow"
    await tenant.ok("PATCH", f"/v1/agents/{tenant.agent}", json={"active": False})
    for _ in range(20):
        resp = await other.post(
            "/v1/precheck", json=tenant.marketing(tenant.listed[1]), headers=headers
        )
        answer = await resp.json()
        if answer["decision"] == "deny":
            break
        await asyncio.sleep(0.05)
    assert codes(answer) == {"agent_not_authorized"}


# --- request validation ------------------------------------------------------------------


async def post_raw(tenant: Tenant, data: bytes | io.BytesIO) -> tuple[int, dict[str, Any]]:
    resp = await tenant.client.post(
        "/v1/precheck",
        data=data,
        headers={**bearer(tenant.tokens["dialer"]), "Content-Type": "application/json"},
    )
    return resp.status, await resp.json()


async def test_malformed_json_is_400(tenant: Tenant) -> None:
    status, body = await post_raw(tenant, b'{"callee": ')
    assert status == 400
    assert body["error"]["code"] == "invalid_request"
    assert "JSON" in body["error"]["message"]


async def test_missing_field_is_400_naming_it(tenant: Tenant) -> None:
    body = tenant.marketing()
    del body["agent_id"]
    status, answer = await tenant.call("POST", "/v1/precheck", "dialer", json=body)
    assert status == 400
    assert "agent_id" in answer["error"]["message"]


async def test_field_required_by_purpose_is_400(tenant: Tenant) -> None:
    body = tenant.marketing()
    del body["list_id"]
    status, answer = await tenant.call("POST", "/v1/precheck", "dialer", json=body)
    assert status == 400
    assert "list_id" in answer["error"]["message"]


async def test_wrong_type_is_400_naming_the_field(tenant: Tenant) -> None:
    status, answer = await tenant.call(
        "POST", "/v1/precheck", "dialer", json=tenant.marketing(script_version="three")
    )
    assert status == 400
    assert "script_version" in answer["error"]["message"]


async def test_unknown_purpose_is_400(tenant: Tenant) -> None:
    status, answer = await tenant.call(
        "POST", "/v1/precheck", "dialer", json=tenant.marketing(purpose="survey")
    )
    assert status == 400
    assert "purpose" in answer["error"]["message"]


async def test_oversized_body_is_413(tenant: Tenant) -> None:
    big = io.BytesIO(b'{"callee": "' + b"1" * (1024 * 1024 + 10) + b'"}')
    status, answer = await post_raw(tenant, big)
    assert status == 413
    assert answer["error"]["code"] == "too_large"


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics")


async def test_metrics_time_the_check_and_the_decision_batch(tenant: Tenant) -> None:
    names = ("gateway_check_seconds_count", "gateway_decision_write_seconds_count")
    before = await (await tenant.client.get("/metrics")).text()
    await asyncio.gather(*(tenant.precheck(tenant.marketing(n)) for n in tenant.listed[:3]))
    after = await (await tenant.client.get("/metrics")).text()
    checks, batches = (_metric(after, n) - _metric(before, n) for n in names)
    assert checks == 3
    # Checks arriving together may share a batch: at least one, at most one each.
    assert 1 <= batches <= 3
    assert _metric(after, "gateway_decision_write_seconds_sum") > _metric(
        before, "gateway_decision_write_seconds_sum"
    )


async def test_metrics_say_when_the_calendar_runs_out(tenant: Tenant) -> None:
    from datetime import UTC, datetime

    async def covered_until() -> datetime:
        text = await (await tenant.client.get("/metrics")).text()
        return datetime.fromtimestamp(_metric(text, "gateway_calendar_covered_until_seconds"), UTC)

    # Other tests of the run may have entered later years: start from whatever is covered.
    before = await covered_until()
    assert before >= datetime.fromisoformat("2027-01-01T00:00:00+08:00")  # the built-in data
    year = before.astimezone(ZoneInfo("Asia/Shanghai")).year  # the first year not covered
    day = f"/v1/holidays/{year}-01-01"
    await tenant.ok("PUT", day, "supervisor", json={"kind": "holiday", "name": "元旦"})
    try:
        assert await covered_until() == before  # an entry alone covers nothing
        await tenant.ok("PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": True})
        after = await covered_until()
        assert after >= datetime.fromisoformat(f"{year + 1}-01-01T00:00:00+08:00")
    finally:
        await tenant.ok("PUT", f"/v1/holidays/years/{year}", "admin", json={"complete": False})
        await tenant.ok("DELETE", day, "supervisor")
    assert await covered_until() == before


async def complete_years(database_url: str) -> set[int]:
    from gateway.store.postgres import connect

    conn = await connect(database_url)
    try:
        rows = await conn.fetch("SELECT year FROM holiday_years WHERE complete")
        return {r["year"] for r in rows}
    finally:
        await conn.close()


@pytest.mark.parametrize("case", ["near the end", "far from it", "run out"])
async def test_a_gateway_starting_near_the_calendars_end_warns(
    settings: Any,
    database_url: str,
    make_client: Any,
    caplog: pytest.LogCaptureFixture,
    case: str,
) -> None:
    import logging
    from datetime import date, datetime, time, timedelta

    from gateway.policy.days import covered_until

    years = await complete_years(database_url)
    end = covered_until(date(2026, 6, 1), years)
    assert end is not None
    ten_am = time(10, tzinfo=ZoneInfo("Asia/Shanghai"))
    now = {
        "near the end": datetime.combine(end - timedelta(days=37), ten_am),
        "far from it": datetime.combine(date(2026, 6, 1), ten_am),
        "run out": datetime.combine(end + timedelta(days=1), ten_am),
    }[case]
    caplog.set_level(logging.WARNING, logger="gateway.app")
    await make_client(settings, Clock(now))
    found = [r for r in caplog.records if "statutory calendar" in r.getMessage()]
    if case == "far from it":
        assert found == []
        return
    assert len(found) == 1
    # Entries alone cover nothing: the warning says to declare the year as well.
    assert "PUT /v1/holidays/years/{year}" in found[0].getMessage()
    if case == "near the end":
        fields = found[0].fields  # type: ignore[attr-defined]
        assert fields == {"last_day": end.isoformat(), "days_left": 37}
    else:
        assert "has run out" in found[0].getMessage()
