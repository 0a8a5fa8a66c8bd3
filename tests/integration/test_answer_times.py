"""Times in answers are RFC 3339 in Beijing time, in JSON and CSV alike, and every CSV
export takes ?bom=1 for Excel."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime
from typing import Any

import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, mobile
from tests.support.headers import bearer

BEIJING_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+08:00$")


@pytest.fixture
def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    return Tenant(client, tokens)


async def test_json_times_are_in_beijing_time(tenant: Tenant) -> None:
    number = mobile()
    entry = await tenant.ok(
        "PUT",
        f"/v1/dnc/{number}",
        json={"reason": "r", "expires_at": "2030-01-01T00:00:00Z"},
    )
    assert BEIJING_TIME.match(entry["created_at"]), entry
    assert entry["expires_at"] == "2030-01-01T08:00:00+08:00"
    history = await tenant.ok("GET", f"/v1/dnc/{number}", "auditor")
    assert BEIJING_TIME.match(history["entries"][0]["created_at"])


async def test_the_dnc_export_writes_beijing_times_and_a_bom_when_asked(
    tenant: Tenant, client: Any
) -> None:
    number = mobile()
    await tenant.ok(
        "PUT", f"/v1/dnc/{number}", json={"reason": "r", "expires_at": "2031-06-01T12:30:00+08:00"}
    )
    headers = bearer(tenant.tokens["supervisor"])
    plain = await (await client.get("/v1/dnc/export", headers=headers)).read()
    assert plain.startswith(b"number,")
    resp = await client.get("/v1/dnc/export?bom=1", headers=headers)
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbfnumber,")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode())))
    row = next(r for r in rows if r["number"] == f"+86{number}")
    assert BEIJING_TIME.match(row["created_at"]), row
    assert row["expires_at"] == "2031-06-01T12:30:00+08:00"
    assert datetime.fromisoformat(row["created_at"]).utcoffset() is not None


async def test_the_calls_export_writes_beijing_times_and_a_bom_when_asked(
    tenant: Tenant, client: Any
) -> None:
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build(list_size=2)
    await tenant.precheck(tenant.marketing(tenant.listed[0]))
    resp = await client.get("/v1/export/calls?bom=1", headers=bearer(tenant.tokens["auditor"]))
    assert resp.status == 200
    body = await resp.read()
    assert body.startswith(b"\xef\xbb\xbfcall_id,")
    rows = list(csv.DictReader(io.StringIO(body[3:].decode())))
    assert rows and all(BEIJING_TIME.match(r["created_at"]) for r in rows)


async def test_the_daily_report_csv_takes_a_bom(tenant: Tenant, client: Any) -> None:
    headers = {**bearer(tenant.tokens["supervisor"]), "Accept": "text/csv"}
    resp = await client.get("/v1/reports/daily?date=2026-11-10&bom=1", headers=headers)
    assert resp.status == 200
    assert (await resp.read()).startswith(b"\xef\xbb\xbfcampaign_id,")
    resp = await client.get("/v1/reports/daily?date=2026-11-10", headers=headers)
    assert (await resp.read()).startswith(b"campaign_id,")


@pytest.mark.parametrize(
    "path", ["/v1/dnc/export", "/v1/export/calls", "/v1/reports/daily?date=2026-11-10"]
)
async def test_a_bom_other_than_0_or_1_is_400(tenant: Tenant, path: str) -> None:
    sep = "&" if "?" in path else "?"
    status, error = await tenant.call("GET", f"{path}{sep}bom=yes")
    assert status == 400
    assert error["error"]["message"].startswith("query bom")
