"""CSV uploads from Chinese offices: the charset a Content-Type names, GB18030 for a body
that is not UTF-8, and the line named when a byte is neither; the command line alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.core.settings import Settings
from tests.integration.tenant import Tenant, e164, mobile
from tests.support.processes import run_cli

REASON = "客户来电拒绝营销"


@pytest.fixture
def tenant(client: Any, tokens: dict[str, str]) -> Tenant:
    return Tenant(client, tokens)


async def import_csv(tenant: Tenant, body: bytes, content_type: str) -> tuple[int, Any]:
    status, answer = await tenant.call(
        "POST", "/v1/dnc/import", data=body, headers={"Content-Type": content_type}
    )
    return int(status), answer


def gbk_file(numbers: list[str]) -> bytes:
    return ("号码,原因\n" + "".join(f"{n},{REASON}\n" for n in numbers)).encode("gbk")


@pytest.mark.parametrize(
    "content_type",
    ["text/csv", "text/csv; charset=gbk", "text/csv; charset=GB18030", "text/csv;charset=gb2312"],
)
async def test_a_gbk_import_is_stored_as_chinese(
    tenant: Tenant, db: Any, content_type: str
) -> None:
    numbers = [mobile() for _ in range(3)]
    status, report = await import_csv(tenant, gbk_file(numbers), content_type)
    assert status == 200, report
    # The header line's first field is not "number": it is a bad line, not mojibake.
    assert (report["added"], report["invalid_count"], report["lines"]) == (3, 1, 4)
    reasons = await db.fetch(
        "SELECT reason FROM dnc_entries WHERE number = ANY($1::text[])",
        [e164(n) for n in numbers],
    )
    assert [r["reason"] for r in reasons] == [REASON] * 3


async def test_utf8_named_or_not_is_read_as_utf8(tenant: Tenant, db: Any) -> None:
    for content_type in ("text/csv", "text/csv; charset=utf-8"):
        number = mobile()
        body = f"\ufeffnumber,reason\n{number},{REASON}\n".encode()
        status, report = await import_csv(tenant, body, content_type)
        assert status == 200 and report["added"] == 1, report
        stored = await db.fetchval("SELECT reason FROM dnc_entries WHERE number = $1", e164(number))
        assert stored == REASON


async def test_an_unknown_charset_is_415_and_stores_nothing(tenant: Tenant, db: Any) -> None:
    number = mobile()
    status, error = await import_csv(tenant, f"{number},x\n".encode(), "text/csv; charset=big5")
    assert status == 415
    assert error["error"]["code"] == "unsupported_media_type"
    assert "charset big5" in error["error"]["message"]
    assert (
        await db.fetchval("SELECT count(*) FROM dnc_entries WHERE number = $1", e164(number)) == 0
    )


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"13812345678\n13912345678,\xff\n", "text/csv", "line 2: neither UTF-8 nor GB18030 text"),
        (REASON.encode("gbk"), "text/csv; charset=utf-8", "line 1: not UTF-8 text"),
        (
            f"1,{REASON}\n".encode() + REASON.encode("gbk"),
            "text/csv",
            "line 2: not UTF-8 text, though the lines before it were",
        ),
        (
            b"13812345678\n\n1391234\x005678\n",
            "text/csv; charset=gbk",
            "line 3: contains a NUL character",
        ),
    ],
)
async def test_a_byte_that_is_no_text_is_400_naming_the_line(
    tenant: Tenant, body: bytes, content_type: str, message: str
) -> None:
    status, error = await import_csv(tenant, body, content_type)
    assert status == 400
    assert error["error"] == {
        "code": "invalid_request",
        "message": message,
        "message_zh": f"请求无效：{message}",
    }


async def test_a_gbk_call_list_is_read(tenant: Tenant) -> None:
    numbers = [mobile() for _ in range(2)]
    body = ("号码\n" + "\n".join(numbers) + "\n").encode("gbk")
    status, answer = await tenant.call(
        "PUT",
        f"/v1/lists/gbk-{tenant.suffix}?provenance=CRM",
        data=body,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 201, answer
    assert answer["size"] == 2
    assert answer["invalid"] == [{"line": 1, "value": "号码", "error": "not a valid number"}]


async def test_gbk_cdrs_are_read_and_an_unknown_charset_refused(tenant: Tenant) -> None:
    body = "主叫,被叫\n4008001234,13900139005,2026-11-22T10:00:00+08:00,,\n".encode("gbk")
    status, answer = await tenant.call(
        "POST", "/v1/cdrs", data=body, headers={"Content-Type": "text/csv"}
    )
    assert status == 202, answer
    assert (answer["accepted"], answer["invalid_count"]) == (1, 1)
    status, answer = await tenant.call(
        "POST", "/v1/cdrs", data=body, headers={"Content-Type": "text/csv; charset=latin-1"}
    )
    assert status == 415


async def test_a_scrub_job_with_an_unknown_charset_is_415(tenant: Tenant) -> None:
    status, answer = await tenant.call(
        "POST",
        "/v1/scrub-jobs?purpose=service",
        data=b"13812345678\n",
        headers={"Content-Type": "text/csv; charset=koi8-r"},
    )
    assert status == 415, answer


async def test_the_command_line_reads_gbk_and_takes_an_encoding(
    settings: Settings, tmp_path: Path, db: Any
) -> None:
    numbers = [mobile() for _ in range(2)]
    path = tmp_path / "refusals.csv"
    path.write_bytes(gbk_file(numbers[:1]))
    code, out, err = await run_cli(settings, "dnc", "import", str(path), "--quiet")
    assert code == 0, err
    assert "added 1," in out
    stored = await db.fetchval("SELECT reason FROM dnc_entries WHERE number = $1", e164(numbers[0]))
    assert stored == REASON
    # GBK bytes that are UTF-8 too (these are "你好" in UTF-8) are taken as UTF-8 unless
    # the file's encoding is named.
    path.write_bytes(f"{numbers[1]},".encode() + "浣犲ソ".encode("gbk") + b"\n")
    code, out, err = await run_cli(
        settings, "dnc", "import", str(path), "--quiet", "--encoding", "gbk"
    )
    assert code == 0, err
    stored = await db.fetchval("SELECT reason FROM dnc_entries WHERE number = $1", e164(numbers[1]))
    assert stored == "浣犲ソ"


async def test_the_command_line_names_the_line_that_is_no_text(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "broken.csv"
    path.write_bytes(f"{mobile()}\n{mobile()},\xff\n".encode("latin-1"))
    code, _, err = await run_cli(settings, "dnc", "import", str(path), "--quiet")
    assert code == 1
    assert "line 2: neither UTF-8 nor GB18030 text" in err
    code, _, err = await run_cli(settings, "dnc", "import", str(path), "--encoding", "latin-1")
    assert code == 2
    assert "--encoding latin-1" in err
