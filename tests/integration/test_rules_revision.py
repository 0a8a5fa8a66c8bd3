"""Every answer and every stored decision names the rule code that judged it
(`rules_revision`); a retry gets the revision its decision was made with, whatever code
answers it, and a decision stored before answers named one is answered without it."""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec
import pytest

from gateway.policy import CheckRequest
from gateway.services.revision import RULES_REVISION
from gateway.store.answers import body_hash, encode
from tests.integration.tenant import OPEN_POLICY, Tenant, until
from tests.support.headers import bearer

OLDER = "0.0.9+0123456789ab"


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build()


async def post_raw(tenant: Tenant, body: dict[str, Any]) -> bytes:
    resp = await tenant.client.post(
        "/v1/precheck", json=body, headers=bearer(tenant.tokens["dialer"])
    )
    assert resp.status == 200, await resp.text()
    raw: bytes = await resp.read()
    return raw


def idempotency_key(tenant: Tenant, request_id: str) -> str:
    from gateway.appkeys import KEYS

    token_id = tenant.tokens["dialer"].split("_")[1]
    key: str = tenant.client.server.app[KEYS].idempotency(token_id, request_id)
    return key


async def answered_in_redis(tenant: Tenant, key: str) -> bytes:
    from gateway.appkeys import REDIS

    redis = tenant.client.server.app[REDIS]

    async def answer() -> bytes | None:
        value: bytes | None = await redis.get(key)
        return value if value and value.startswith(b"D|") else None

    value: bytes = await until(answer)
    return value


async def set_stored_revision(db: Any, request_id: str, revision: str | None) -> None:
    """Gives a stored decision another revision, as other rule code (or a gateway from
    before migration 019) would have stored it: past the append-only trigger, in this
    session only."""
    async with db.transaction():
        await db.execute("SET LOCAL session_replication_role = replica")
        done = await db.execute(
            "UPDATE calls SET rules_revision = $2 WHERE request_id = $1", request_id, revision
        )
    assert done == "UPDATE 1"


def digest_of(body: dict[str, Any]) -> str:
    return body_hash(encode(msgspec.convert(body, CheckRequest)))


async def test_the_answer_the_stored_decision_and_the_record_name_the_rule_code(
    tenant: Tenant, db: Any
) -> None:
    answer = await tenant.precheck(tenant.marketing(tenant.listed[0]))
    assert answer["rules_revision"] == RULES_REVISION
    assert list(answer)[-2:] == ["policy_version", "rules_revision"]
    stored = await db.fetchval(
        "SELECT rules_revision FROM calls WHERE call_id = $1::uuid", answer["call_id"]
    )
    assert stored == RULES_REVISION
    detail = await tenant.ok("GET", f"/v1/calls/{answer['call_id']}", "auditor")
    assert detail["rules_revision"] == RULES_REVISION
    assert detail["policy_version"] == answer["policy_version"]

    resp = await tenant.client.get(
        "/v1/export/calls?from=2026-11-23T00:00:00%2B08:00&to=2026-11-24T00:00:00%2B08:00",
        headers=bearer(tenant.tokens["auditor"]),
    )
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO(await resp.text())))
    assert rows[0][-1] == "rules_revision"
    mine = [r for r in rows[1:] if r[0] == answer["call_id"]]
    assert [r[-1] for r in mine] == [RULES_REVISION]


async def test_a_denied_check_names_the_rule_code_too(tenant: Tenant, db: Any) -> None:
    answer = await tenant.precheck(tenant.marketing(tenant.listed[1], script_version=9))
    assert answer["decision"] == "deny"
    assert answer["rules_revision"] == RULES_REVISION
    assert (
        await db.fetchval(
            "SELECT rules_revision FROM calls WHERE call_id = $1::uuid", answer["call_id"]
        )
        == RULES_REVISION
    )


async def test_a_simulation_names_the_rule_code(tenant: Tenant) -> None:
    answer = await tenant.ok(
        "POST",
        "/v1/precheck/simulate",
        "auditor",
        json={**tenant.marketing(tenant.listed[2]), "at": "2026-11-24T21:30:00+08:00"},
    )
    assert answer["call_id"] is None
    assert answer["rules_revision"] == RULES_REVISION


async def test_a_retry_gets_the_revision_its_decision_was_made_with(
    tenant: Tenant, db: Any
) -> None:
    # The decision was made by other rule code (as after an upgrade): a retry answered
    # from the stored decision gives that code's revision, not the running one's.
    from gateway.appkeys import REDIS

    redis = tenant.client.server.app[REDIS]
    body = tenant.marketing(tenant.listed[3], request_id=f"older-{tenant.suffix}")
    key = idempotency_key(tenant, body["request_id"])
    first = await post_raw(tenant, body)
    answered = await answered_in_redis(tenant, key)
    assert answered.endswith(first)
    call_id = msgspec.json.decode(first)["call_id"]
    await set_stored_revision(db, body["request_id"], OLDER)
    # Only the pending marker is left in Redis: the answer is made again from the row.
    await redis.set(key, f"P|{digest_of(body)}|{call_id}", px=86_400_000)
    again = await post_raw(tenant, body)
    expected = first.replace(RULES_REVISION.encode(), OLDER.encode())
    assert again == expected
    assert await redis.get(key) == answered.replace(RULES_REVISION.encode(), OLDER.encode())
    assert (
        await db.fetchval("SELECT count(*) FROM calls WHERE request_id = $1", body["request_id"])
        == 1
    )


async def test_after_redis_lost_its_data_a_retry_gets_the_stored_revision(
    tenant: Tenant, db: Any
) -> None:
    from gateway.appkeys import KEYS, REDIS

    app = tenant.client.server.app
    redis, keys = app[REDIS], app[KEYS]
    older = tenant.marketing(tenant.listed[4], request_id=f"lost-old-{tenant.suffix}")
    current = tenant.marketing(tenant.listed[5], request_id=f"lost-new-{tenant.suffix}")
    answers = {}
    for body in (older, current):
        answers[body["request_id"]] = await post_raw(tenant, body)
        await answered_in_redis(tenant, idempotency_key(tenant, body["request_id"]))
    await set_stored_revision(db, older["request_id"], OLDER)
    # Redis loses the answers and the do-not-call mirror; the rebuild puts them back.
    idem = [k async for k in redis.scan_iter(match=keys.prefix + "idem:*")]
    await redis.delete(keys.dnc_current, *idem)

    async def allowed() -> bool:
        answer = await tenant.precheck(tenant.marketing(tenant.listed[0]))
        return answer["decision"] == "allow"

    assert await until(allowed)
    assert await post_raw(tenant, current) == answers[current["request_id"]]
    assert await post_raw(tenant, older) == answers[older["request_id"]].replace(
        RULES_REVISION.encode(), OLDER.encode()
    )


async def test_a_decision_stored_before_answers_named_their_rule_code_is_answered_as_then(
    tenant: Tenant, db: Any
) -> None:
    # A row from before migration 019 (NULL): its answer had no rules_revision, and a
    # retry gets those bytes, not an answer with an invented revision.
    from gateway.appkeys import REDIS

    redis = tenant.client.server.app[REDIS]
    body = tenant.marketing(tenant.listed[2], request_id=f"before-{tenant.suffix}")
    key = idempotency_key(tenant, body["request_id"])
    first = await post_raw(tenant, body)
    await answered_in_redis(tenant, key)
    call_id = msgspec.json.decode(first)["call_id"]
    await set_stored_revision(db, body["request_id"], None)
    await redis.set(key, f"P|{digest_of(body)}|{call_id}", px=86_400_000)
    again = await post_raw(tenant, body)
    suffix = b',"rules_revision":"' + RULES_REVISION.encode() + b'"}'
    assert first.endswith(suffix)
    assert again == first[: -len(suffix)] + b"}"
    assert "rules_revision" not in msgspec.json.decode(again)
    detail = await tenant.ok("GET", f"/v1/calls/{call_id}")
    assert detail["rules_revision"] is None
