"""A redis-server of the test's own, to stop and start again empty."""

from __future__ import annotations

import subprocess
from pathlib import Path

from redis.asyncio import Redis

from tests.support.processes import free_port


class OwnRedis:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.dir = tmp
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def flush(self) -> None:
        """FLUSHALL, straight to the server (past any proxy in front of it)."""
        direct = Redis.from_url(self.url, socket_timeout=2)
        try:
            await direct.flushall()
        finally:
            await direct.aclose()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
