"""Real `gateway serve` processes for tests, with the gateway's clock set to a moment of
the test's choosing (so calling hours and the calendar do not depend on when the suite
runs): only the clock the checks judge by moves, as `create_app` takes it from
`gateway.app._system_clock`."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp

from tests.support.processes import free_port

_LAUNCHER = (
    "import sys, datetime as d, gateway.app as a; "
    "s = d.timedelta(seconds=float(sys.argv[1])); "
    "a._system_clock = lambda: d.datetime.now(d.UTC) + s; "
    "from gateway.cli import main; raise SystemExit(main(sys.argv[2:]))"
)


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path, *, at: datetime | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, **env}
        self._log_path = log
        self._log: IO[bytes] | None = None
        self._at = at
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, ready: bool = True) -> GatewayProcess:
        shift = 0.0 if self._at is None else (self._at - datetime.now(UTC)).total_seconds()
        self._log = self._log_path.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _LAUNCHER,
            str(shift),
            "serve",
            "--port",
            str(self.port),
            env=self._env,
            stdout=self._log,
            stderr=self._log,
        )
        if ready:
            await self.wait_ready()
        return self

    async def wait_ready(self, seconds: float = 30.0) -> None:
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + seconds
            while asyncio.get_running_loop().time() < deadline:
                assert self.proc is not None and self.proc.returncode is None, self.log()
                try:
                    async with http.get(self.url + "/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"gateway not ready in {seconds} s:\n{self.log()}")

    def log(self) -> str:
        return self._log_path.read_text(errors="replace")

    async def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(sig)
            await self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    async def __aenter__(self) -> GatewayProcess:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.kill()
