"""The `gateway` command run as separate processes, and free ports for the servers tests
start."""

from __future__ import annotations

import asyncio
import os
import socket
import sys

from gateway.core.settings import Settings

GATEWAY = [sys.executable, "-m", "gateway.cli"]


def gateway_env(settings: Settings) -> dict[str, str]:
    """The environment a `gateway` process reads `settings` from."""
    return {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_REDIS_URL": settings.redis_url,
        "GATEWAY_REDIS_PREFIX": settings.redis_prefix,
        "GATEWAY_LOG_LEVEL": "INFO",
    }


async def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    """Run `gateway *args` to its end; answers (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *GATEWAY,
        *args,
        env=gateway_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
