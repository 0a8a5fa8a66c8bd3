"""How long the database's disk takes to make a write durable, measured before a run.

Every check waits for its decision's commit, and a commit waits for PostgreSQL's WAL
flush (fdatasync). A virtual disk whose flush stalls now and then, for tens or hundreds
of milliseconds, puts every check in flight at that moment into the latency tail,
whatever the gateway does. This probe writes 8 kB and calls fdatasync in a loop, as
pg_test_fsync does, in a file beside PostgreSQL's data directory (same filesystem), so
that the results can tell a tail set by the disk from one set by the gateway.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class FlushProbe:
    where: str
    seconds: float
    latencies: list[float]  # seconds, sorted

    def quantile(self, q: float) -> float:
        return self.latencies[min(len(self.latencies) - 1, int(q * len(self.latencies)))]

    def describe(self) -> str:
        n = len(self.latencies)
        if not n:
            return f"no flush measured in {self.where}"
        over_10 = sum(1 for x in self.latencies if x > 0.01)
        over_100 = sum(1 for x in self.latencies if x > 0.1)
        return (
            f"8 kB write + fdatasync in {self.where}, {n:,} times in {self.seconds:g} s: "
            f"p50 {self.quantile(0.5) * 1000:.2f} ms, p99 {self.quantile(0.99) * 1000:.2f} ms, "
            f"p99.9 {self.quantile(0.999) * 1000:.2f} ms, max {self.latencies[-1] * 1000:.1f} ms; "
            f"{over_10} over 10 ms, {over_100} over 100 ms"
        )


def probe(directory: Path, seconds: float) -> FlushProbe:
    path = directory / f".gwbench-flush-{os.getpid()}"
    block = os.urandom(8192)
    latencies: list[float] = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            os.pwrite(fd, block, (i % 128) * 8192)
            i += 1
            started = time.perf_counter()
            os.fdatasync(fd)
            latencies.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    latencies.sort()
    return FlushProbe(str(directory), seconds, latencies)
