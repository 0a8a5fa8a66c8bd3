"""Recordings stored twice, played back with Range, the sale link and the legal hold."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.integration.tenant import OPEN_POLICY, Tenant, until
from tests.support.audio import mp3, ogg, wav
from tests.support.headers import bearer


@pytest.fixture
async def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    t = Tenant(client, tokens)
    await t.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    return await t.build(list_size=6)


async def allowed_call(tenant: Tenant, index: int = 0) -> str:
    answer = await tenant.precheck(tenant.marketing(tenant.listed[index]))
    assert answer["decision"] == "allow"
    return str(answer["call_id"])


async def upload(tenant: Tenant, call_id: str, body: Any, ctype: str = "audio/wav") -> Any:
    return await tenant.call(
        "PUT",
        f"/v1/calls/{call_id}/recording",
        "dialer",
        data=body,
        headers={"Content-Type": ctype},
    )


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_upload_stores_two_identical_copies(tenant: Tenant, settings: Any) -> None:
    call = await allowed_call(tenant)
    audio = wav(9)
    status, body = await upload(tenant, call, audio)
    assert status == 201, body
    assert body == {
        "sha256": hashlib.sha256(audio).hexdigest(),
        "size": len(audio),
        "duration_s": 9.0,
        "stored": ["primary", "backup"],
    }
    primary = [p for p in files_under(Path(settings.recordings_dir)) if call in p.name]
    backup = [p for p in files_under(Path(settings.backup_dir)) if call in p.name]
    assert len(primary) == len(backup) == 1
    assert primary[0].read_bytes() == backup[0].read_bytes() == audio
    # Laid out by the call's date.
    assert primary[0].relative_to(settings.recordings_dir).parts[:3] == ("2026", "11", "23")
    status, again = await upload(tenant, call, b"other audio")
    assert status == 409
    assert again["error"]["code"] == "exists"


async def test_upload_refusals(tenant: Tenant, settings: Any) -> None:
    call = await allowed_call(tenant, 1)
    status, body = await upload(tenant, call, b"abc", "video/mp4")
    assert status == 415
    assert body["error"]["code"] == "unsupported_media_type"
    status, _ = await upload(tenant, "00000000-0000-7000-8000-000000000000", b"abc")
    assert status == 404


@pytest.mark.parametrize(
    ("ctype", "audio", "seconds"),
    [("audio/wav", wav(4), 4.0), ("audio/mpeg", mp3(4), 3.996), ("audio/ogg", ogg(4), 4.0)],
)
async def test_each_container_is_stored_with_its_duration(
    tenant: Tenant, ctype: str, audio: bytes, seconds: float
) -> None:
    call = await allowed_call(tenant)
    status, body = await upload(tenant, call, audio, ctype)
    assert status == 201, body
    assert body["duration_s"] == seconds
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    assert detail["recording"]["duration_s"] == seconds
    assert detail["recording"]["content_type"] == ctype
    assert detail["recording"]["size"] == len(audio)


NOT_AUDIO = [
    ("audio/wav", b"", "the body is empty"),
    ("audio/wav", b"<html><body>502 Bad Gateway</body></html>", "another kind of file"),
    ("audio/wav", wav(3)[:-1000], "cut off: its data chunk declares 48000 bytes"),
    ("audio/wav", wav(0), "its length is zero"),
    ("audio/mpeg", wav(2), "another kind of file"),
    ("audio/mpeg", b"\xff\xfb" + bytes(3000), "not MP3 audio"),
    ("audio/ogg", ogg(3)[:-31], "its last page does not end the stream"),
    ("audio/ogg", mp3(2), "another kind of file"),
]


@pytest.mark.parametrize(("ctype", "data", "why"), NOT_AUDIO)
async def test_what_is_not_audio_is_422_and_does_not_block_the_real_recording(
    tenant: Tenant, settings: Any, db: Any, ctype: str, data: bytes, why: str
) -> None:
    call = await allowed_call(tenant)
    status, body = await upload(tenant, call, data, ctype)
    assert status == 422, body
    assert body["error"]["code"] == "invalid_recording"
    assert why in body["error"]["message"]
    assert body["error"]["message_zh"].startswith("录音文件无效")
    assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1::uuid", call) == 0
    stored = [
        p
        for root in (settings.recordings_dir, settings.backup_dir)
        for p in files_under(Path(root))
        if call in p.name
    ]
    assert stored == []
    # Nothing was claimed: the call's real recording is taken (it was once a 409).
    audio = wav(2)
    status, body = await upload(tenant, call, audio)
    assert status == 201, body
    assert body["sha256"] == hashlib.sha256(audio).hexdigest()


async def test_random_bytes_are_never_stored_as_a_recording(tenant: Tenant, db: Any) -> None:
    call = await allowed_call(tenant)
    for size in (1, 100, 5000, 70_000):
        for ctype in ("audio/wav", "audio/mpeg", "audio/ogg"):
            status, body = await upload(tenant, call, os.urandom(size), ctype)
            assert status == 422, (size, ctype, body)
            assert body["error"]["code"] == "invalid_recording"
    assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1::uuid", call) == 0


async def post_event(tenant: Tenant, call: str, kind: str, at: str) -> None:
    status, body = await tenant.call(
        "POST", f"/v1/calls/{call}/events", "dialer", json={"type": kind, "at": at}
    )
    assert status == 201, body


async def incomplete(tenant: Tenant, call: str) -> list[Any]:
    page = await tenant.ok("GET", "/v1/exceptions?kind=recording_incomplete", "supervisor")
    return [e for e in page["items"] if e["call_id"] == call]


@pytest.mark.parametrize("upload_first", [False, True], ids=["events_first", "upload_first"])
async def test_a_recording_short_of_the_talk_time_opens_recording_incomplete(
    tenant: Tenant, upload_first: bool
) -> None:
    call = await allowed_call(tenant)
    if upload_first:
        assert (await upload(tenant, call, wav(10)))[0] == 201
    await post_event(tenant, call, "answered", "2026-11-23T10:01:00+08:00")
    assert await incomplete(tenant, call) == []
    await post_event(tenant, call, "ended", "2026-11-23T10:02:00+08:00")
    if not upload_first:
        assert await incomplete(tenant, call) == []  # no recording yet: missing, not short
        assert (await upload(tenant, call, wav(10)))[0] == 201
    [found] = await incomplete(tenant, call)
    assert found["state"] == "open"
    assert found["detail"]["recording_s"] == 10.0
    assert found["detail"]["talk_s"] == 60.0
    assert found["detail"]["reported_by"] == "test-dialer"
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert "recording_incomplete" in [e["kind"] for e in detail["exceptions"]]


@pytest.mark.parametrize(
    ("talk_s", "recorded_s", "opened"),
    [(15, 10, False), (16, 10, True), (10, 12, False), (600, 595, False), (600, 594.5, True)],
)
async def test_recording_incomplete_allows_five_seconds(
    tenant: Tenant, talk_s: int, recorded_s: float, opened: bool
) -> None:
    call = await allowed_call(tenant)
    await post_event(tenant, call, "answered", "2026-11-23T10:01:00+08:00")
    assert (await upload(tenant, call, wav(recorded_s, rate=800)))[0] == 201
    ended = f"2026-11-23T10:{1 + talk_s // 60:02d}:{talk_s % 60:02d}+08:00"
    await post_event(tenant, call, "ended", ended)
    assert bool(await incomplete(tenant, call)) is opened


async def test_oversized_recording_is_413_and_leaves_nothing(
    make_client: Any, settings: Any, clock: Any, tokens: dict[str, str], tmp_path: Path
) -> None:
    import msgspec

    from gateway.core.settings import load_settings

    small = load_settings(
        env={}, **{**msgspec.structs.asdict(settings), "max_recording_bytes": 100_000}
    )
    client = await make_client(small, clock)
    tenant = Tenant(client, tokens)
    await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    await tenant.build()
    call = await allowed_call(tenant)

    audio = wav(10)  # 160,044 bytes

    async def stream() -> AsyncIterator[bytes]:
        for i in range(0, len(audio), 10_000):
            yield audio[i : i + 10_000]

    status, body = await upload(tenant, call, stream())
    assert status == 413
    assert body["error"]["code"] == "too_large"
    assert [p for p in files_under(Path(settings.recordings_dir)) if call in p.name] == []
    # Nothing claims the call: a proper upload still works.
    status, _ = await upload(tenant, call, wav(1))
    assert status == 201


async def test_aborted_upload_leaves_no_record_and_no_file(
    tenant: Tenant, settings: Any, db: Any
) -> None:
    call = await allowed_call(tenant, 2)
    sent = asyncio.Event()

    async def dies_midway() -> AsyncIterator[bytes]:
        yield wav(10)[:64_000]
        sent.set()
        await asyncio.sleep(0.3)
        raise ConnectionResetError("dialer crashed")

    url = tenant.client.make_url(f"/v1/calls/{call}/recording")
    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientError, ConnectionResetError)):
            await http.put(
                url,
                data=dies_midway(),
                headers={**bearer(tenant.tokens["dialer"]), "Content-Type": "audio/wav"},
            )
    for _ in range(50):
        if await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1::uuid", call) == 0:
            break
        await asyncio.sleep(0.05)
    assert await db.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1::uuid", call) == 0
    leftovers = [
        p
        for root in (settings.recordings_dir, settings.backup_dir)
        for p in files_under(Path(root))
        if call in p.name
    ]
    assert leftovers == []


async def test_range_requests_return_the_right_bytes(tenant: Tenant, db: Any) -> None:
    call = await allowed_call(tenant, 3)
    audio = mp3(60)  # 240,048 bytes
    assert (await upload(tenant, call, audio, "audio/mpeg"))[0] == 201
    headers = bearer(tenant.tokens["auditor"])
    resp = await tenant.client.get(f"/v1/calls/{call}/recording", headers=headers)
    assert resp.status == 200
    assert resp.content_type == "audio/mpeg"
    assert await resp.read() == audio
    resp = await tenant.client.get(
        f"/v1/calls/{call}/recording", headers={**headers, "Range": "bytes=1000-1999"}
    )
    assert resp.status == 206
    assert resp.headers["Content-Range"] == f"bytes 1000-1999/{len(audio)}"
    assert await resp.read() == audio[1000:2000]
    resp = await tenant.client.get(
        f"/v1/calls/{call}/recording", headers={**headers, "Range": "bytes=-10"}
    )
    assert resp.status == 206
    assert await resp.read() == audio[-10:]
    plays = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'play' AND entity_id = $1", call
    )
    assert plays == 1  # the seeks belong to the playback that started at 0
    for bad, why in [
        (f"bytes={len(audio)}-", f"starts at or after the end of the recording ({len(audio)} "),
        ("bytes=10-5", "Range 'bytes=10-5': "),
        ("bytes=0-1,5-6", "send one range"),
        ("pages=1-2", "send one range"),
    ]:
        resp = await tenant.client.get(
            f"/v1/calls/{call}/recording", headers={**headers, "Range": bad}
        )
        assert resp.status == 416, bad
        assert resp.headers["Content-Range"] == f"bytes */{len(audio)}"
        error = (await resp.json())["error"]
        assert error["code"] == "range_not_satisfiable"
        assert why in error["message"]
    # A refused range is no playback.
    assert (
        await db.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'play' AND entity_id = $1", call
        )
        == 1
    )


async def test_playback_preconditions_fail_with_the_error_envelope(tenant: Tenant, db: Any) -> None:
    call = await allowed_call(tenant, 5)
    audio = wav(0.2)
    assert (await upload(tenant, call, audio))[0] == 201
    headers = bearer(tenant.tokens["auditor"])
    url = f"/v1/calls/{call}/recording"
    resp = await tenant.client.get(url, headers=headers)
    etag, stored = resp.headers["ETag"], resp.headers["Last-Modified"]
    plays = "SELECT count(*) FROM audit_log WHERE action = 'play' AND entity_id = $1"
    assert await db.fetchval(plays, call) == 1
    for sent, why in [
        ({"If-Match": '"0-1"'}, f"the recording's ETag is {etag}"),
        ({"If-Match": f"W/{etag}"}, "none of the given match"),  # If-Match compares strongly
        ({"If-Unmodified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}, "was stored at 20"),
    ]:
        resp = await tenant.client.get(url, headers={**headers, **sent})
        assert resp.status == 412, sent
        error = (await resp.json())["error"]
        assert error["code"] == "precondition_failed"
        assert why in error["message"], error
    assert await db.fetchval(plays, call) == 1  # refused: no playback
    for sent in [{"If-Match": etag}, {"If-Match": "*"}, {"If-Unmodified-Since": stored}]:
        resp = await tenant.client.get(url, headers={**headers, **sent})
        assert resp.status == 200, sent
        assert await resp.read() == audio
    played = await db.fetchval(plays, call)
    # A player's cached copy is still current: 304, no body, and nothing played.
    for sent in [
        {"If-None-Match": etag},
        {"If-None-Match": f"W/{etag}"},
        {"If-Modified-Since": stored},
    ]:
        resp = await tenant.client.get(url, headers={**headers, **sent})
        assert resp.status == 304, sent
        assert await resp.read() == b""
    assert await db.fetchval(plays, call) == played
    # Not current: played, and audited.
    resp = await tenant.client.get(url, headers={**headers, "If-None-Match": '"0-1"'})
    assert resp.status == 200
    assert await db.fetchval(plays, call) == played + 1


async def test_playback_falls_back_to_the_backup_copy(tenant: Tenant, settings: Any) -> None:
    call = await allowed_call(tenant, 4)
    audio = wav(0.3)
    assert (await upload(tenant, call, audio))[0] == 201
    for p in files_under(Path(settings.recordings_dir)):
        if call in p.name:
            p.unlink()
    resp = await tenant.client.get(
        f"/v1/calls/{call}/recording", headers=bearer(tenant.tokens["supervisor"])
    )
    assert resp.status == 200
    assert await resp.read() == audio


async def test_sale_sets_the_retention_date(tenant: Tenant) -> None:
    call = await allowed_call(tenant, 5)
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    assert detail["retention_until"].startswith("2029-11-2")  # 1095 days, no sale
    policy = f"P-1-{tenant.suffix}"
    status, sale = await tenant.call(
        "POST", f"/v1/calls/{call}/policy", "dialer", json={"policy_no": policy, "term_months": 240}
    )
    assert status == 201
    assert sale["retention_until"] is None  # kept while the contract is in force
    # The contract ended: a supervisor records it, and the call keeps 10 years from then.
    await tenant.ok(
        "PATCH",
        f"/v1/policies/{policy}",
        "supervisor",
        json={"terminated_at": "2026-11-22T16:00:00Z", "reason": "surrendered"},
    )
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert detail["sale"]["policy_no"] == policy
    assert detail["retention_until"] == "2036-11-23T00:00:00+08:00"


async def test_short_term_sale_keeps_five_years(tenant: Tenant) -> None:
    call = await allowed_call(tenant, 0)
    _, sale = await tenant.call(
        "POST",
        f"/v1/calls/{call}/policy",
        "dialer",
        json={
            "policy_no": f"P-9-{tenant.suffix}",
            "term_months": 12,
            "terminated_at": "2026-11-22T16:00:00Z",
        },
    )
    assert sale["retention_until"].startswith("2031-11-23T00:00:00+08:00")


async def test_a_call_without_a_sale_stays_readable_whatever_retention_is_stored(
    tenant: Tenant,
    db: Any,
    make_client: Any,
    settings: Any,
    clock: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    call = await allowed_call(tenant, 3)
    auditor = bearer(tenant.tokens["auditor"])
    caplog.set_level(logging.WARNING, logger="gateway.registries")
    # A document saved before the policy's numbers were bounded, as the table may hold it.
    await db.execute(
        "UPDATE policy_document SET document = "
        "jsonb_set(document, '{retention,no_sale_days}', '3000000')"
    )
    try:
        await db.execute("SELECT pg_notify('gateway_registry', 'policy')")

        async def reloaded() -> bool:
            policy = await tenant.ok("GET", "/v1/policy", "auditor")
            return bool(policy["retention"]["no_sale_days"] == 36500)

        assert await until(reloaded)
        detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
        assert detail["retention_until"].startswith("2126-10-30")  # 36500 days, the bound
        # A process starting with that document starts, and reads the call too.
        other = await make_client(settings, clock)
        resp = await other.get(f"/v1/calls/{call}", headers=auditor)
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["retention_until"].startswith("2126-10-30")
        warned = [r for r in caplog.records if "retention.no_sale_days" in r.getMessage()]
        assert warned and "3000000" in warned[0].getMessage()
    finally:
        await tenant.ok("PUT", "/v1/policy", "admin", json=OPEN_POLICY)
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "auditor")
    assert detail["retention_until"].startswith("2029-11-2")


async def test_legal_hold_is_set_lifted_and_audited(tenant: Tenant, db: Any) -> None:
    call = await allowed_call(tenant, 1)
    status, _ = await tenant.call(
        "PUT", f"/v1/calls/{call}/hold", "supervisor", json={"hold": True}
    )
    assert status == 400
    await tenant.ok(
        "PUT",
        f"/v1/calls/{call}/hold",
        "supervisor",
        json={"hold": True, "reason": "complaint 2026-118 under investigation"},
    )
    detail = await tenant.ok("GET", f"/v1/calls/{call}", "supervisor")
    assert detail["hold"]["hold"] is True
    await tenant.ok(
        "PUT", f"/v1/calls/{call}/hold", "supervisor", json={"hold": False, "reason": "closed"}
    )
    actions = [
        r["action"]
        for r in await db.fetch(
            "SELECT action FROM audit_log WHERE entity = 'call' AND entity_id = $1 ORDER BY seq",
            call,
        )
    ]
    assert actions == ["hold", "release"]
    status, _ = await tenant.call(
        "PUT", f"/v1/calls/{call}/hold", "dialer", json={"hold": True, "reason": "x"}
    )
    assert status == 403
