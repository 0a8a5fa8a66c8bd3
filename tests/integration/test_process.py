"""The `gateway` command as an operator runs it: separate processes, real signals."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.core.settings import Settings
from tests.support.processes import GATEWAY, free_port, gateway_env, run_cli


async def answering(http: aiohttp.ClientSession, url: str, log: Path) -> None:
    """Wait until `url` answers 200 (a process starting); fail with its log if it never
    does."""
    for _ in range(100):
        try:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(await asyncio.to_thread(log.read_text))


@pytest.fixture
async def server(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Any, str]]:
    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY, "serve", "--port", str(port), env=gateway_env(settings), stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        await answering(http, base + "/readyz", tmp_path / "serve.log")
    try:
        yield proc, base
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


async def test_token_create_prints_the_token_last(settings: Settings) -> None:
    code, out, _ = await run_cli(
        settings, "token", "create", "--role", "auditor", "--name", "ops-review"
    )
    assert code == 0
    token = out.strip().splitlines()[-1]
    assert token.startswith("gw_")
    assert " " not in token


async def test_token_create_refuses_an_unknown_role(settings: Settings) -> None:
    code, _, err = await run_cli(settings, "token", "create", "--role", "root", "--name", "x")
    assert code == 2
    assert "role" in err


async def test_migrate_twice_applies_nothing_the_second_time(settings: Settings) -> None:
    code, out, _ = await run_cli(settings, "migrate")
    assert code == 0
    assert "nothing to apply" in out


async def test_serve_answers_readyz_and_stops_gracefully_on_sigterm(
    server: tuple[Any, str], tokens: dict[str, str]
) -> None:
    proc, base = server
    headers = {"Authorization": f"Bearer {tokens['supervisor']}", "Content-Type": "text/csv"}
    sent_after_term = asyncio.Event()

    async def slow_body() -> AsyncIterator[bytes]:
        yield b"number\n"
        for i in range(10):
            if i == 3:
                proc.send_signal(signal.SIGTERM)
                sent_after_term.set()
            await asyncio.sleep(0.1)
            yield f"1380000{i:04d}\n".encode()

    async with (
        aiohttp.ClientSession() as http,
        http.put(
            base + "/v1/lists/shutdown-test?provenance=graceful", data=slow_body(), headers=headers
        ) as resp,
    ):
        # The request was in flight when SIGTERM arrived; it is finished, not cut off.
        assert sent_after_term.is_set()
        assert resp.status == 201, await resp.text()
        assert (await resp.json())["size"] == 10
    assert await asyncio.wait_for(proc.wait(), 30) == 0


async def test_config_file_is_read(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "g.toml"
    config.write_text('[gateway]\ndatabase_url = "postgresql://nobody@127.0.0.1:1/none"\n')
    env_less = Settings(
        **{**{f: getattr(settings, f) for f in settings.__struct_fields__}, "database_url": ""}
    )
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY,
        "--config",
        str(config),
        "migrate",
        env={k: v for k, v in gateway_env(env_less).items() if k != "GATEWAY_DATABASE_URL"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    # It tried the file's database, which does not answer: a clear error, not a traceback.
    assert proc.returncode == 1
    assert b"cannot reach" in err


async def test_dnc_import_and_export_from_the_command_line(
    settings: Settings, tmp_path: Path, db: Any
) -> None:
    listed = [f"+86139{n:08d}" for n in range(12_000, 12_005)]
    csv_file = tmp_path / "refusals.csv"
    csv_file.write_text(
        "number,reason\n" + "\n".join(f"{n},letter" for n in listed) + "\nnot-a-number\n"
    )
    code, out, err = await run_cli(settings, "dnc", "import", str(csv_file), "--progress")
    assert code == 0, err
    assert "added 5, already listed 0, invalid 1 of 7 lines" in out
    assert "line 7: 'not-a-number'" in out
    assert "lines/s" in err and "ETA" in err
    source = await db.fetchval(
        "SELECT DISTINCT source FROM dnc_entries WHERE number = $1", listed[0]
    )
    assert source == "import:refusals.csv"
    code, out, _ = await run_cli(settings, "dnc", "export")
    assert code == 0
    exported = {line.split(",")[0] for line in out.splitlines()[1:]}
    assert set(listed) <= exported


async def test_dnc_import_of_a_missing_file_is_a_clear_error(settings: Settings) -> None:
    code, _, err = await run_cli(settings, "dnc", "import", "/nonexistent.csv")
    assert code == 2
    assert "not a file" in err


async def test_a_revoked_token_is_refused_at_once(settings: Settings, client: Any) -> None:
    code, out, _ = await run_cli(
        settings, "token", "create", "--role", "dialer", "--name", "leaving-vendor"
    )
    token = out.strip().splitlines()[-1]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/v1/whoami", headers=headers)).status == 200
    code, out, _ = await run_cli(settings, "token", "revoke", "leaving-vendor")
    assert code == 0
    assert token.split("_")[1] in out
    for _ in range(50):
        if (await client.get("/v1/whoami", headers=headers)).status == 401:
            break
        await asyncio.sleep(0.05)
    assert (await client.get("/v1/whoami", headers=headers)).status == 401
    code, out, _ = await run_cli(settings, "token", "list")
    assert "leaving-vendor" in out and "revoked" in out
    assert token.split("_")[2] not in out
    code, _, err = await run_cli(settings, "token", "revoke", "nobody-at-all")
    assert code == 1
    assert "no active token" in err


async def test_processes_sharing_a_port_each_answer_metrics_on_their_own(
    settings: Settings, tmp_path: Path
) -> None:
    """Two processes on one port (--reuse-port): each one's /metrics on its own port
    shows the requests that process answered, together all of them."""
    port, metrics_ports = free_port(), [free_port(), free_port()]
    log = (tmp_path / "serve.log").open("wb")
    procs = [
        await asyncio.create_subprocess_exec(
            *GATEWAY,
            "serve",
            "--port",
            str(port),
            "--reuse-port",
            "--metrics-port",
            str(m),
            env=gateway_env(settings),
            stdout=log,
            stderr=log,
        )
        for m in metrics_ports
    ]
    try:
        async with aiohttp.ClientSession() as http:
            for m in metrics_ports:  # both up: their metrics ports answer
                await answering(http, f"http://127.0.0.1:{m}/metrics", tmp_path / "serve.log")
            for _ in range(40):  # a new connection each time: the kernel picks a process
                async with (
                    aiohttp.ClientSession() as once,
                    once.get(f"http://127.0.0.1:{port}/healthz") as resp,
                ):
                    assert resp.status == 200
            counts = []
            for m in metrics_ports:
                async with http.get(f"http://127.0.0.1:{m}/metrics") as resp:
                    text = await resp.text()
                counts.append(
                    sum(
                        float(line.split()[-1])
                        for line in text.splitlines()
                        if line.startswith("gateway_http_requests_total{")
                        and 'route="/healthz"' in line
                    )
                )
                async with http.get(f"http://127.0.0.1:{m}/v1/policy") as resp:
                    assert resp.status == 404  # the metrics port serves metrics alone
        assert sum(counts) == 40
        assert all(c > 0 for c in counts), counts  # 40 connections did not all land on one
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert await asyncio.wait_for(proc.wait(), 30) == 0
        log.close()


async def _closed_after(addr: tuple[str, int], send: bytes, within: float) -> tuple[bytes, float]:
    """Connect, send `send`, then wait for the server to close: what it sent, and after how
    many seconds; fails if the connection is still open after `within` seconds."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    reader, writer = await asyncio.open_connection(*addr)
    try:
        writer.write(send)
        data = b""
        async with asyncio.timeout(within):
            while chunk := await reader.read(65536):
                data += chunk
        return data, loop.time() - started
    except TimeoutError:
        raise AssertionError(f"the connection is still open after {within} s") from None
    finally:
        writer.close()


async def test_serve_cuts_off_slow_clients(settings: Settings, tmp_path: Path) -> None:
    """`gateway serve` applies the time limits from its settings, on the API's port and on
    the metrics port, and still stops at once on SIGTERM."""
    port, metrics_port = free_port(), free_port()
    log = (tmp_path / "serve.log").open("wb")
    env = {
        **gateway_env(settings),
        "GATEWAY_HEADER_TIMEOUT_SECONDS": "0.5",
        "GATEWAY_KEEPALIVE_TIMEOUT_SECONDS": "1",
    }
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY,
        *("serve", "--port", str(port), "--metrics-port", str(metrics_port)),
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        async with aiohttp.ClientSession() as http:
            await answering(http, f"http://127.0.0.1:{port}/readyz", tmp_path / "serve.log")
        partial = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n"  # the headers never end
        for p in (port, metrics_port):
            data, after = await _closed_after(("127.0.0.1", p), partial, 5.5)
            assert data.startswith(b"HTTP/1.1 408 "), data
            assert b'"code":"request_timeout"' in data
            assert after >= 0.45
        # A kept-alive connection, idle after its answer, is closed after the keep-alive
        # limit.
        whole = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n"
        data, after = await _closed_after(("127.0.0.1", port), whole, 6)
        assert data.startswith(b"HTTP/1.1 200 ")
        assert after >= 0.9
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()


# `gateway serve` with a grace period of argv[2] seconds, on port argv[1].
SERVE_WITH_GRACE = """
import asyncio, sys
from gateway.app import create_app
from gateway.serve import serve
from gateway.core.settings import load_settings
port, grace = int(sys.argv[1]), float(sys.argv[2])
asyncio.run(serve(create_app(load_settings()), "127.0.0.1", port, grace=grace))
"""


async def test_sigterm_stops_within_the_grace_period_whatever_still_runs(
    settings: Settings, tokens: dict[str, str], tmp_path: Path
) -> None:
    """An upload that keeps sending is waited for until the grace period ends, then cut
    off: the process does not wait for it as long again."""
    port, grace = free_port(), 4.0
    log = (tmp_path / "serve.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-c", SERVE_WITH_GRACE, str(port), str(grace)),
        env=gateway_env(settings),
        stdout=log,
        stderr=log,
    )
    writer = None
    try:
        async with aiohttp.ClientSession() as http:
            await answering(http, f"http://127.0.0.1:{port}/readyz", tmp_path / "serve.log")
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"PUT /v1/lists/endless?provenance=slow HTTP/1.1\r\nHost: gateway\r\n"
            + f"Authorization: Bearer {tokens['supervisor']}\r\n".encode()
            + b"Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
        )

        async def keep_sending(w: asyncio.StreamWriter) -> None:
            for i in range(300):
                line = f"1380001{i:04d}\n".encode()
                w.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
                await w.drain()
                await asyncio.sleep(0.2)

        sending = asyncio.create_task(keep_sending(writer))
        await asyncio.sleep(1)
        loop = asyncio.get_running_loop()
        started = loop.time()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        took = loop.time() - started
        sending.cancel()
        assert grace * 0.9 <= took < grace * 2 - 0.5, took
        assert b"grace period over" in (tmp_path / "serve.log").read_bytes()
    finally:
        if writer is not None:
            writer.close()
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        log.close()
