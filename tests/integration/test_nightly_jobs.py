"""Nightly jobs driven with an injected clock against real PostgreSQL and files on disk."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.appkeys import JOBS, PG
from gateway.jobs.catalog import JOBS as CATALOG
from gateway.jobs.runner import JobContext, run_job
from gateway.policy import PolicyTerms, RetentionPolicy, may_delete, retention_until
from tests.integration.jobs_support import AT, copies, make_call, upload
from tests.support.clock import Clock
from tests.support.headers import bearer


async def run(client: Any, name: str, at: str, *, dry_run: bool = False) -> Any:
    jobs = client.server.app[JOBS]
    now = AT(at)

    def context(dry: bool) -> JobContext:
        base = jobs.context(dry)
        return JobContext(base.pool, base.redis, base.dnc, base.settings, now, dry)

    result = await run_job(
        CATALOG[name],
        context,
        client.server.app[PG],
        scheduled_at=now + timedelta(microseconds=uuid.uuid4().int % 999_983),
        trigger="manual",
        dry_run=dry_run,
    )
    assert result.outcome == "done", result
    return result.counts


# --- retention ------------------------------------------------------------------------------


async def test_retention_deletes_exactly_the_expired_and_skips_held(
    client: Any, db: Any, tokens: dict[str, str], settings: Any
) -> None:
    dialer, supervisor = tokens["dialer"], tokens["supervisor"]
    old = await make_call(db, AT("2023-01-02T10:00:00+08:00"))  # past 1095 days
    held = await make_call(db, AT("2023-01-02T11:00:00+08:00"))
    young = await make_call(db, AT("2026-01-02T10:00:00+08:00"))
    sold = await make_call(db, AT("2023-01-02T12:00:00+08:00"))
    for call in (old, held, young, sold):
        await upload(client, dialer, call)
    await client.put(
        f"/v1/calls/{held}/hold",
        json={"hold": True, "reason": "complaint"},
        headers=bearer(supervisor),
    )
    await client.post(
        f"/v1/calls/{sold}/policy",
        json={"policy_no": "P", "term_months": 24},
        headers=bearer(dialer),
    )
    dry = await run(client, "retention", "2026-11-23T02:30:00+08:00", dry_run=True)
    assert str(old) in {d["call_id"] for d in dry["first"]}
    assert copies(settings, old)  # a dry run deletes nothing
    counts = await run(client, "retention", "2026-11-23T02:30:00+08:00")
    assert counts["deleted"] >= 1
    assert copies(settings, old) == []
    for kept in (held, young, sold):
        assert len(copies(settings, kept)) == 2
    tomb = await db.fetchrow("SELECT * FROM recording_tombstones WHERE call_id = $1", old)
    assert tomb["files_removed"] is True
    assert "retention date passed" in tomb["reason"]
    assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1", old) == 0
    logged = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE entity = 'recording' AND action = 'delete' "
        "AND after->'call_ids' ? $1",
        str(old),
    )
    assert logged == 1
    again = await run(client, "retention", "2026-11-23T02:31:00+08:00")
    assert str(old) not in str(again)


async def test_retention_survives_a_crash_between_rows_and_files(
    client: Any, db: Any, tokens: dict[str, str], settings: Any, monkeypatch: Any
) -> None:
    from gateway.jobs import retention_jobs as retention

    calls = [
        await make_call(db, AT("2022-06-01T10:00:00+08:00") + timedelta(minutes=i))
        for i in range(3)
    ]
    for call in calls:
        await upload(client, tokens["dialer"], call)

    async def crash(store: Any, keys: list[str]) -> None:
        raise OSError("power cut")

    monkeypatch.setattr(retention, "_remove_files", crash)
    jobs = client.server.app[JOBS]
    result = await run_job(
        CATALOG["retention"],
        jobs.context,
        client.server.app[PG],
        scheduled_at=AT("2026-11-23T02:30:00+08:00"),
    )
    assert result.outcome == "failed"
    # The rows are gone with their tombstones written; the files are still there, and no
    # recording row points at a missing file.
    for call in calls:
        assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1", call) == 0
        assert (
            await db.fetchval(
                "SELECT files_removed FROM recording_tombstones WHERE call_id = $1", call
            )
            is False
        )
        assert len(copies(settings, call)) == 2
    monkeypatch.undo()
    counts = await run(client, "retention", "2026-11-23T02:40:00+08:00")
    assert counts["resumed"] >= 3
    for call in calls:
        assert copies(settings, call) == []
        assert (
            await db.fetchval(
                "SELECT files_removed FROM recording_tombstones WHERE call_id = $1", call
            )
            is True
        )


async def _sold(db: Any, call: uuid.UUID, policy_no: str, term: int, ended: Any) -> None:
    await db.execute(
        "INSERT INTO policies (policy_no, term_months, terminated_at, created_by) "
        "VALUES ($1, $2, $3, 'test') ON CONFLICT (policy_no) DO NOTHING",
        policy_no,
        term,
        ended,
    )
    await db.execute(
        "INSERT INTO call_policies (call_id, policy_no, signed_at, linked_by) "
        "VALUES ($1, $2, now(), 'test')",
        call,
        policy_no,
    )


_TERMS = [
    (None, None),
    (12, "2027-11-23T00:00:00+00:00"),
    (13, "2028-02-29T16:30:00+00:00"),
    (6, "2024-02-29T00:00:00+00:00"),  # ended before the call
    (240, None),
]


@pytest.mark.parametrize("purpose", ["marketing", "callback"])
@pytest.mark.parametrize("call_time", ["2026-11-23T10:00:00+00:00", "2024-02-29T10:00:00+00:00"])
@pytest.mark.parametrize(
    "sold",
    [[], [0], [1], [2], [3], [1, 2], [2, 3], [1, 4], [4, 3]],
)
@pytest.mark.parametrize("no_sale_days", [30, 1095])
async def test_the_database_retention_date_agrees_with_the_policy(
    db: Any, call_time: str, sold: list[int], purpose: str, no_sale_days: int
) -> None:
    call = await make_call(db, AT(call_time), purpose=purpose)
    terms = []
    for index in sold:
        term, ended = _TERMS[index]
        if term is None:
            continue
        end = AT(ended) if ended else None
        await _sold(db, call, f"agree-{call}-{index}", term, end)
        terms.append(PolicyTerms(term, end))
    sql = await db.fetchval(
        "SELECT call_retention_until(call_id, created_at, purpose, "
        "call_visited_policy(call_id, purpose, request), $2) FROM calls WHERE call_id = $1",
        call,
        no_sale_days,
    )
    assert sql == retention_until(
        AT(call_time),
        RetentionPolicy(no_sale_days=no_sale_days),
        terms,
        return_visit=purpose == "callback",
    )


@pytest.mark.parametrize(
    ("closed", "kept"),
    [
        (None, True),  # open
        ("2024-11-23T02:30:01+00:00", True),  # closed a moment less than two years ago
        ("2024-11-22T18:30:00+00:00", False),  # two years to the moment
        ("2020-01-01T00:00:00+00:00", False),
    ],
)
async def test_the_database_dispute_rule_agrees_with_the_policy(
    db: Any, closed: str | None, kept: bool
) -> None:
    now = AT("2026-11-23T02:30:00+08:00")
    call = await make_call(db, AT("2020-01-01T10:00:00+08:00"))
    await db.execute(
        "INSERT INTO disputes (call_id, kind, ref, opened_by, opened_at, closed_at) "
        "VALUES ($1, 'litigation', 'r', 'test', '2019-06-01', $2)",
        call,
        AT(closed) if closed else None,
    )
    assert await db.fetchval("SELECT call_kept_by_dispute($1, $2)", call, now) is kept
    closed_at = AT(closed) if closed else None
    assert may_delete(AT("2021-01-01T00:00:00+00:00"), now, disputes_closed_at=[closed_at]) is (
        not kept
    )


async def test_retention_keeps_disputed_calls_until_two_years_after_closing(
    client: Any, db: Any, tokens: dict[str, str], settings: Any
) -> None:
    supervisor = bearer(tokens["supervisor"])
    calls = {
        name: await make_call(db, AT("2022-03-01T10:00:00+08:00") + timedelta(minutes=i))
        for i, name in enumerate(("open", "recent", "old", "complained", "none"))
    }
    for call in calls.values():
        await upload(client, tokens["dialer"], call)
    for name in ("open", "recent", "old"):
        resp = await client.post(
            f"/v1/calls/{calls[name]}/disputes",
            json={"kind": "litigation", "ref": f"case {name}"},
            headers=supervisor,
        )
        assert resp.status == 201, await resp.text()
        dispute = await resp.json()
        closed = {"recent": "2026-01-10T00:00:00+08:00", "old": "2024-01-10T00:00:00+08:00"}
        if name in closed:
            # Opened now (the test clock); closing is dated back through the table.
            await db.execute(
                "UPDATE disputes SET opened_at = '2023-01-01', closed_at = $2, note = 'n' "
                "WHERE id = $1",
                dispute["id"],
                AT(closed[name]),
            )
    await event(
        client, tokens["dialer"], calls["complained"], "complaint", "2022-03-02T10:00:00+08:00"
    )
    await run(client, "retention", "2026-11-23T02:30:00+08:00")
    for name in ("open", "recent", "complained"):
        assert len(copies(settings, calls[name])) == 2, name
    for name in ("old", "none"):
        assert copies(settings, calls[name]) == [], name


# --- integrity ------------------------------------------------------------------------------


async def test_integrity_repairs_a_flipped_byte_and_flags_both_bad(
    client: Any, db: Any, tokens: dict[str, str], settings: Any
) -> None:
    one_bad = await make_call(db, AT("2026-11-20T10:00:00+08:00"))
    both_bad = await make_call(db, AT("2026-11-20T10:05:00+08:00"))
    missing = await make_call(db, AT("2026-11-20T10:10:00+08:00"))
    audio = await upload(client, tokens["dialer"], one_bad)
    await upload(client, tokens["dialer"], both_bad)
    await upload(client, tokens["dialer"], missing)
    primary = next(
        p for p in copies(settings, one_bad) if str(p).startswith(settings.recordings_dir)
    )
    flipped = bytearray(audio)
    flipped[100] ^= 0xFF
    primary.write_bytes(bytes(flipped))
    for p in copies(settings, both_bad):
        p.write_bytes(b"garbage")
    backup_of_missing = next(
        p for p in copies(settings, missing) if str(p).startswith(settings.backup_dir)
    )
    backup_of_missing.unlink()
    counts = await run(client, "integrity", "2026-11-23T03:00:00+08:00")
    assert counts["restored"] >= 2
    assert counts["both_bad"] >= 1
    assert primary.read_bytes() == audio
    assert backup_of_missing.is_file()
    kind = await db.fetchval("SELECT kind FROM compliance_exceptions WHERE call_id = $1", both_bad)
    assert kind == "recording_corrupt"


async def test_integrity_sweeps_stray_partial_files(client: Any, settings: Any) -> None:
    import os
    import time

    stray = Path(settings.recordings_dir) / "2026/11/01/.x.wav.abc.partial"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"half an upload")
    old = time.time() - 7200
    os.utime(stray, (old, old))
    counts = await run(client, "integrity", "2026-11-23T03:05:00+08:00")
    assert counts["swept_partials"] >= 1
    assert not stray.exists()


# --- missed recordings and reconciliation -----------------------------------------------------


async def event(client: Any, token: str, call: uuid.UUID, kind: str, at: str) -> None:
    resp = await client.post(
        f"/v1/calls/{call}/events", json={"type": kind, "at": at}, headers=bearer(token)
    )
    assert resp.status in (200, 201), await resp.text()


async def test_missed_recording_becomes_an_exception(
    client: Any, db: Any, tokens: dict[str, str]
) -> None:
    dialer = tokens["dialer"]
    unrecorded = await make_call(db, AT("2026-11-21T10:00:00+08:00"))
    recorded = await make_call(db, AT("2026-11-21T10:01:00+08:00"))
    recent = await make_call(db, AT("2026-11-22T23:00:00+08:00"))
    for call, start in ((unrecorded, "10:00:05"), (recorded, "10:01:05"), (recent, "23:00:05")):
        day = "2026-11-22" if call == recent else "2026-11-21"
        await event(client, dialer, call, "answered", f"{day}T{start}+08:00")
        await event(client, dialer, call, "ended", f"{day}T{start[:-2]}59+08:00")
    await upload(client, dialer, recorded)
    counts = await run(client, "missed-recordings", "2026-11-23T08:00:00+08:00")
    assert counts["flagged"] >= 1
    flagged = {
        r["call_id"]
        for r in await db.fetch(
            "SELECT call_id FROM compliance_exceptions WHERE kind = 'recording_missing'"
        )
    }
    assert unrecorded in flagged
    assert recorded not in flagged
    assert recent not in flagged  # not 24 hours yet


async def post_cdrs(client: Any, token: str, body: str, ctype: str) -> Any:
    resp = await client.post(
        "/v1/cdrs", data=body.encode(), headers={**bearer(token), "Content-Type": ctype}
    )
    return resp.status, await resp.json()


async def test_unmatched_cdrs_become_exceptions(
    client: Any, db: Any, tokens: dict[str, str]
) -> None:
    callee = "+8613900139000"
    allowed = await make_call(db, AT("2026-11-22T10:00:00+08:00"), callee=callee)
    denied = await make_call(
        db, AT("2026-11-22T11:00:00+08:00"), callee="+8613900139001", decision="deny"
    )
    lines = "\n".join(
        [
            '{"caller": "4008001234", "callee": "13900139000", '
            '"start": "2026-11-22T10:00:20+08:00", "end": "2026-11-22T10:03:00+08:00"}',
            f'{{"caller": "4008001234", "callee": "13900139001", '
            f'"start": "2026-11-22T11:00:10+08:00", "call_id": "{denied}"}}',
            '{"caller": "4008001234", "callee": "13900139002", "start": "2026-11-22T12:00:00Z"}',
            '{"caller": "4008001234", "callee": "13900139000", '
            '"start": "2026-11-22T10:30:00+08:00"}',
            '{"caller": "01088886666", "callee": "13900139000", '
            '"start": "2026-11-22T10:00:30+08:00"}',
            '{"callee": "1"}',
            "not json",
        ]
    )
    status, body = await post_cdrs(client, tokens["dialer"], lines, "application/x-ndjson")
    assert status == 202
    assert body["accepted"] == 5
    assert [i["line"] for i in body["invalid"]] == [6, 7]
    counts = await run(client, "reconciliation", "2026-11-23T00:10:00+08:00")
    assert counts["matched"] >= 1
    findings = {
        r["finding"]
        for r in await db.fetch("SELECT finding FROM cdrs WHERE callee_raw LIKE '1390013900%'")
    }
    assert findings == {
        None,
        "call_after_deny",
        "dialed_without_check",
        "dialed_after_expiry",
        "caller_id_mismatch",
    }
    kinds = {r["kind"] for r in await db.fetch("SELECT kind FROM compliance_exceptions")}
    assert {"call_after_deny", "dialed_without_check"} <= kinds
    assert allowed


async def test_cdrs_as_csv_with_a_header(client: Any, tokens: dict[str, str]) -> None:
    body = (
        "caller,callee,start,end,call_id\n"
        "4008001234,13900139005,2026-11-22T10:00:00+08:00,,\n"
        "4008001234,13900139006,not-a-time,,\n"
    )
    status, answer = await post_cdrs(client, tokens["supervisor"], body, "text/csv")
    assert status == 202
    assert answer["accepted"] == 1
    assert answer["invalid"][0]["line"] == 3
    status, _ = await post_cdrs(client, tokens["auditor"], body, "text/csv")
    assert status == 403


async def test_cdrs_that_are_not_text_are_refused(
    client: Any, db: Any, tokens: dict[str, str]
) -> None:
    before = await db.fetchval("SELECT count(*) FROM cdrs")
    headers = {**bearer(tokens["supervisor"]), "Content-Type": "text/csv"}
    for raw in (b"4008001234,13900139005,2026-11-22T10:00:00+08:00,\xff,\n", b"4008\x00,1\n"):
        resp = await client.post("/v1/cdrs", data=raw, headers=headers)
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "invalid_request"
    assert await db.fetchval("SELECT count(*) FROM cdrs") == before


# --- daily report -----------------------------------------------------------------------------


async def test_daily_report_counts_by_campaign_and_agent(
    client: Any, db: Any, tokens: dict[str, str], clock: Clock
) -> None:
    day = "2026-11-10"
    a = await make_call(db, AT(f"{day}T10:00:00+08:00"), campaign_id="rep", agent_id="R1")
    b = await make_call(
        db,
        AT(f"{day}T10:05:00+08:00"),
        campaign_id="rep",
        agent_id="R1",
        decision="deny",
        reasons=[{"code": "dnc_listed", "rule": "dnc", "message": "m"}],
    )
    cb1 = await make_call(
        db, AT(f"{day}T11:00:00+08:00"), campaign_id="rv", agent_id="R2", purpose="callback"
    )
    cb2 = await make_call(
        db, AT(f"{day}T11:05:00+08:00"), campaign_id="rv", agent_id="R2", purpose="callback"
    )
    dialer = tokens["dialer"]
    await event(client, dialer, a, "answered", f"{day}T10:00:10+08:00")
    await event(client, dialer, a, "opt_out", f"{day}T10:01:00+08:00")
    await event(client, dialer, cb1, "answered", f"{day}T11:00:10+08:00")
    await upload(client, dialer, cb1)
    # Return visits whose cooling-off period ended that day count for the sale's campaign
    # and seller: one done in time, one done late, one never; one ends another day.
    sale = await make_call(db, AT("2026-10-26T10:00:00+08:00"), campaign_id="sold", agent_id="S9")
    for n, (due, done) in enumerate(
        [
            (f"{day}T09:00:00+08:00", f"{day}T08:59:00+08:00"),
            (f"{day}T10:00:00+08:00", f"{day}T10:00:01+08:00"),
            (f"{day}T23:59:00+08:00", None),
            ("2026-11-11T00:00:00+08:00", None),
        ]
    ):
        policy = f"rep-{sale}-{n}"
        await db.execute(
            "INSERT INTO policies (policy_no, term_months, created_by) VALUES ($1, 24, 't')",
            policy,
        )
        await db.execute(
            "INSERT INTO return_visits (policy_no, sales_call_id, seller_agent_id, campaign_id, "
            "signed_at, due_by, done_at) VALUES ($1, $2, 'S9', 'sold', $3, $3, $4)",
            policy,
            sale,
            AT(due),
            AT(done) if done else None,
        )
    counts = await run(client, "daily-report", "2026-11-11T00:10:00+08:00")
    assert counts["day"] == day
    resp = await client.get(f"/v1/reports/daily?date={day}", headers=bearer(tokens["auditor"]))
    report = await resp.json()
    assert report["provisional"] is False
    rows = {(r["campaign_id"], r["agent_id"]): r for r in report["rows"]}
    rep = rows[("rep", "R1")]
    assert (rep["checks"], rep["allows"], rep["denies"]) == (2, 1, 1)
    assert rep["denies_by_reason"] == {"dnc_listed": 1}
    assert (rep["answered"], rep["opt_outs"], rep["recordings_missing"]) == (1, 1, 1)
    rv = rows[("rv", "R2")]
    assert (rv["callbacks_attempted"], rv["callbacks_reached"]) == (2, 1)
    # Neither callback named the policy it visited: listed for a supervisor to link.
    assert rv["callbacks_unlinked"] == sorted([str(cb1), str(cb2)])
    # The success rate is of visits, not of calls answered.
    assert rv["callback_success_rate"] is None
    sold = rows[("sold", "S9")]
    assert (sold["checks"], sold["visits_ended"], sold["visits_done_in_time"]) == (0, 3, 1)
    assert sold["callback_success_rate"] == round(1 / 3, 4)
    assert sold["callback_target_met"] is False
    resp = await client.get(
        f"/v1/reports/daily?date={day}",
        headers={**bearer(tokens["supervisor"]), "Accept": "text/csv"},
    )
    assert resp.content_type == "text/csv"
    text = await resp.text()
    assert text.splitlines()[0].startswith("campaign_id,agent_id,checks")
    assert "dnc_listed=1" in text
    assert b is not None and cb2 is not None


async def test_report_for_an_unreported_day_is_provisional(
    client: Any, tokens: dict[str, str]
) -> None:
    resp = await client.get(
        "/v1/reports/daily?date=2026-11-23", headers=bearer(tokens["supervisor"])
    )
    assert (await resp.json())["provisional"] is True
    for query in ("", "?date=yesterday", "?date=2030-01-01"):
        resp = await client.get(f"/v1/reports/daily{query}", headers=bearer(tokens["supervisor"]))
        assert resp.status in (400, 404)


async def test_return_visit_recordings_are_kept_until_the_policy_visited_is_known(
    client: Any, db: Any, tokens: dict[str, str], settings: Any
) -> None:
    visit = await make_call(db, AT("2021-06-01T10:00:00+08:00"), purpose="callback")
    named = await make_call(db, AT("2021-06-01T10:01:00+08:00"), purpose="callback")
    sale_call = await make_call(db, AT("2021-06-01T10:05:00+08:00"))
    for call in (visit, named, sale_call):
        await upload(client, tokens["dialer"], call)
    policy = f"RV-{named}"
    await _sold(db, sale_call, policy, 24, AT("2022-01-01T00:00:00+08:00"))
    resp = await client.put(
        f"/v1/calls/{named}/visited-policy",
        json={"policy_no": policy, "reason": "visit log"},
        headers=bearer(tokens["supervisor"]),
    )
    assert resp.status == 200, await resp.text()
    await run(client, "retention", "2026-11-23T02:30:00+08:00")
    assert len(copies(settings, visit)) == 2  # names no policy: kept
    assert len(copies(settings, named)) == 2  # 10 years from the policy's end
    assert len(copies(settings, sale_call)) == 2  # a sale of 24 months: 10 years from the end
    resp = await client.get(f"/v1/calls/{visit}", headers=bearer(tokens["supervisor"]))
    assert (await resp.json())["retention_until"] is None
    resp = await client.get(f"/v1/calls/{named}", headers=bearer(tokens["supervisor"]))
    assert (await resp.json())["retention_until"] == "2032-01-01T00:00:00+08:00"


async def test_old_scrub_jobs_are_removed_with_their_results(client: Any, db: Any) -> None:
    old, new = uuid.uuid4(), uuid.uuid4()
    for job_id, made in ((old, "2026-11-01T00:00:00+08:00"), (new, "2026-11-22T00:00:00+08:00")):
        await db.execute(
            "INSERT INTO scrub_jobs (job_id, purpose, state, total, created_by, created_at) "
            "VALUES ($1, 'service', 'done', 1, 't', $2)",
            job_id,
            AT(made),
        )
        await db.execute(
            "INSERT INTO scrub_result_chunks (job_id, chunk, lines, csv) "
            "VALUES ($1, 0, 1, '13800138000,+8613800138000,true,\n')",
            job_id,
        )
    counts = await run(client, "scrub-cleanup", "2026-11-23T04:40:00+08:00")
    assert counts["removed"] >= 1
    held = "SELECT count(*) FROM scrub_result_chunks WHERE job_id = $1"
    assert await db.fetchval(held, old) == 0
    assert await db.fetchval(held, new) == 1
