"""Shared pieces of the benchmarks: a throwaway database and Redis prefix, an in-process
gateway on a real port, and a description of the machine."""

from __future__ import annotations

import asyncio
import os
import platform
import re
import secrets
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from gateway.app import create_app
from gateway.core.settings import Settings, load_settings
from gateway.services.auth import create_token
from gateway.store.postgres import connect, migrate

ADMIN_URL = os.environ.get(
    "GATEWAY_BENCH_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("GATEWAY_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass
class Scratch:
    settings: Settings
    tokens: dict[str, str]


@asynccontextmanager
async def scratch(tmp: Path, **overrides: Any) -> AsyncIterator[Scratch]:
    """A migrated database and Redis prefix of its own, removed afterwards."""
    name = f"gwbench_{secrets.token_hex(4)}"
    prefix = f"gwbench:{secrets.token_hex(4)}:"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN_URL.rpartition("/")[0] + "/" + name
    try:
        await migrate(url)
        conn = await connect(url)
        try:
            tokens = {
                r: await create_token(conn, r, f"bench-{r}")
                for r in ("dialer", "supervisor", "auditor", "admin")
            }
        finally:
            await conn.close()
        settings = load_settings(
            env={},
            database_url=url,
            redis_url=REDIS_URL,
            redis_prefix=prefix,
            recordings_dir=str(tmp / "primary"),
            backup_dir=str(tmp / "backup"),
            scheduler=False,
            log_level="WARNING",
            **overrides,
        )
        yield Scratch(settings, tokens)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        redis = Redis.from_url(REDIS_URL)
        try:
            await unlink_prefix(redis, prefix)
        finally:
            await redis.aclose()


async def unlink_prefix(redis: Redis, prefix: str) -> None:
    """Remove every key under `prefix`, a few thousand a command."""
    batch: list[bytes] = []
    async for key in redis.scan_iter(match=prefix + "*", count=5000):
        batch.append(key)
        if len(batch) >= 5000:
            await redis.unlink(*batch)
            batch = []
    if batch:
        await redis.unlink(*batch)


@asynccontextmanager
async def serving(settings: Settings, port: int = 18090) -> AsyncIterator[str]:
    runner = web.AppRunner(create_app(settings), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def serving_process(settings: Settings, port: int = 18091) -> AsyncIterator[str]:
    """`gateway serve` in a process of its own (as in production: the benchmark's own
    objects and work stay out of the gateway's heap and core), ready when /readyz is."""
    env = dict(os.environ)
    env.update(
        GATEWAY_DATABASE_URL=settings.database_url,
        GATEWAY_REDIS_URL=settings.redis_url,
        GATEWAY_REDIS_PREFIX=settings.redis_prefix,
        GATEWAY_RECORDINGS_DIR=settings.recordings_dir,
        GATEWAY_BACKUP_DIR=settings.backup_dir,
        GATEWAY_SCHEDULER="false",
        GATEWAY_LOG_LEVEL="WARNING",
    )
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv/bin/gateway"),
        *("serve", "--host", "127.0.0.1", "--port", str(port)),
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(1200):
                if proc.returncode is not None:
                    raise RuntimeError(f"gateway serve exited with {proc.returncode}")
                try:
                    async with http.get(base + "/readyz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise RuntimeError("gateway serve not ready after 120 s")
        yield base
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", text)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    mem = "unknown"
    try:
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
        mem = f"{kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        pass

    def version(*cmd: str) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
        except OSError:
            return "unknown"

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": version("psql", "--version"),
        "redis": version("redis-server", "--version"),
    }
