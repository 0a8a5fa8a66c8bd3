"""Demo data: a small working tenant (caller id, scripts, agents, campaigns, an approved
list, a staff number, a do-not-call entry) and one token per role. Loading it twice
changes nothing but the tokens, which are new each time."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from gateway.core.settings import Settings
from gateway.services.auth import ROLES, create_token
from gateway.store import audit, dnc_changes, rows
from gateway.store.dnc_cache import DncCache
from gateway.store.dnc_changes import cache_line
from gateway.store.dnc_entries import list_number
from gateway.store.keys import Keys
from gateway.store.postgres import connect, create_pool
from gateway.store.redis import create_redis
from gateway.store.registry_rows import bump

ACTOR = "demo"
CALLER_ID = "+864008001234"
LIST_NUMBERS = [
    "+8613812345678",
    "+8613912345678",
    "+8615012345678",
    "+8618612345678",
    "+862583456789",
]
CUSTOMER_NUMBERS = ["+8613700001111", "+8613700002222"]
DNC_NUMBER = "+8613912345678"
STAFF_NUMBER = "+8613600009999"


def _rows(today: date) -> list[tuple[str, dict[str, Any]]]:
    far = today + timedelta(days=365)
    start = datetime(today.year, 1, 1, tzinfo=UTC)
    end = datetime(today.year + 1, 12, 31, tzinfo=UTC)
    all_purposes = ["marketing", "appointment", "callback", "service"]
    return [
        (
            "caller_ids",
            {
                "number": CALLER_ID,
                "purposes": all_purposes,
                "provinces": None,
                "published_at": start,
                "active": True,
            },
        ),
        (
            "scripts",
            {
                "script_id": "term-life-intro",
                "version": 3,
                "title": "Term life introduction",
                "text": "您好，我是XX人寿保险公司的电话销售人员，工号……",
                "status": "filed",
                "filing_ref": "BJ-2026-0117",
                "discloses_identity": True,
            },
        ),
        (
            "scripts",
            {
                "script_id": "term-life-intro",
                "version": 4,
                "title": "Term life introduction (revised)",
                "text": "您好，我是XX人寿保险公司的电话销售人员……",
                "status": "draft",
                "filing_ref": None,
                "discloses_identity": True,
            },
        ),
        (
            "scripts",
            {
                "script_id": "return-visit",
                "version": 1,
                "title": "New policy return visit",
                "text": "您好，这里是XX人寿客户服务中心，现在对您新购买的保单进行回访……",
                "status": "filed",
                "filing_ref": "BJ-2026-0201",
                "discloses_identity": True,
            },
        ),
        (
            "agents",
            {
                "agent_id": "A1001",
                "name": "王芳",
                "licence_no": "0201-2024-110001",
                "licence_valid_until": far,
                "training_valid_until": far,
                "purposes": ["appointment", "marketing"],
                "active": True,
            },
        ),
        (
            "agents",
            {
                "agent_id": "A2001",
                "name": "李强",
                "licence_no": "0201-2023-110452",
                "licence_valid_until": far,
                "training_valid_until": far,
                "purposes": ["callback", "service"],
                "active": True,
            },
        ),
        (
            "agents",
            {
                "agent_id": "A1002",
                "name": "赵敏",
                "licence_no": "0201-2022-110321",
                "licence_valid_until": far,
                "training_valid_until": today - timedelta(days=30),
                "purposes": ["marketing"],
                "active": True,
            },
        ),
        (
            "campaigns",
            {
                "campaign_id": "term-life-q4",
                "purpose": "marketing",
                "script_ids": ["term-life-intro"],
                "caller_ids": [CALLER_ID],
                "list_ids": ["leads-2026-11"],
                "starts_at": start,
                "ends_at": end,
                "active": True,
            },
        ),
        (
            "campaigns",
            {
                "campaign_id": "agent-appointments",
                "purpose": "appointment",
                "script_ids": ["term-life-intro"],
                "caller_ids": [CALLER_ID],
                "list_ids": [],
                "starts_at": start,
                "ends_at": end,
                "active": True,
            },
        ),
        (
            "campaigns",
            {
                "campaign_id": "return-visits",
                "purpose": "callback",
                "script_ids": ["return-visit"],
                "caller_ids": [CALLER_ID],
                "list_ids": [],
                "starts_at": start,
                "ends_at": end,
                "active": True,
            },
        ),
        (
            "call_lists",
            {
                "list_id": "leads-2026-11",
                "approved_by": ACTOR,
                "provenance": "existing customers who consented to product news, "
                "CRM export 2026-11-01",
                "size": len(LIST_NUMBERS),
            },
        ),
        (
            "staff_numbers",
            {"number": STAFF_NUMBER, "note": "branch office, Nanjing", "created_by": ACTOR},
        ),
    ]


async def load_demo(settings: Settings) -> int:
    conn = await connect(settings.database_url)
    created = 0
    try:
        async with conn.transaction():
            for table, values in _rows(datetime.now(UTC).date()):
                row = await rows.insert(conn, table, values)
                if row is not None:
                    created += 1
                    key = next(iter(values.values()))
                    await audit.record(
                        conn,
                        actor=ACTOR,
                        action="create",
                        entity=table,
                        entity_id=str(key),
                        after=rows.as_dict(row),
                    )
            await conn.executemany(
                "INSERT INTO call_list_numbers (list_id, number) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                [("leads-2026-11", n) for n in LIST_NUMBERS],
            )
            await conn.executemany(
                "INSERT INTO agent_customers (agent_id, number) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                [("A1001", n) for n in CUSTOMER_NUMBERS],
            )
            listing = await list_number(
                conn,
                DNC_NUMBER,
                scope="marketing",
                source="customer_refusal",
                created_by=ACTOR,
                reason="客户明确拒绝再次接受电话销售（演示数据）",
            )
            await bump(conn, "all")
            change = None
            if listing.created:
                line = cache_line(DNC_NUMBER, listing.entry["scope"])
                change = (await dnc_changes.record(conn, "list", line, 1), line)
        tokens = {
            role: await create_token(conn, role, f"demo-{role}", replace=True) for role in ROLES
        }
    finally:
        await conn.close()
    if change is not None:
        await _publish(settings, *change)
    print(f"demo tenant loaded ({created} new registry rows)")
    print("demo tokens (shown once):")
    for role, token in tokens.items():
        print(f"  {role:<10} {token}")
    print("export GATEWAY_DIALER_TOKEN=" + tokens["dialer"])
    print("export GATEWAY_SUPERVISOR_TOKEN=" + tokens["supervisor"])
    return 0


async def _publish(settings: Settings, seq: int, line: str) -> None:
    """Into a running gateway's cache; without one, the gateway catches up as it starts."""
    redis = create_redis(settings.redis_url)
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await DncCache(redis, pool, Keys(settings.redis_prefix)).publish(seq, line)
    finally:
        await pool.close()
        await redis.aclose()
