"""Where the machine's CPU went during a measured run, by process group, from /proc.

Each thread's /proc/<pid>/task/<tid>/schedstat gives the time it ran and the time it
waited runnable on a run queue, in nanoseconds, and how many times it was put on a core.
Summed by group (the gateway processes, PostgreSQL, Redis, wrk, everything else) before
and after a run, the differences say how much CPU a check cost each part, how long each
part waited for a core (on a two-core machine running all of them, that wait is part of
the latency tail), and how often each was woken: a wake-up costs a context switch and,
on a virtual machine, often more, so the fewer a check needs the better. Threads
that started and ended between two samples are missed, which leaves out PostgreSQL
backends that lived less than a run (none do in the benchmark: the pools keep theirs).
wrk itself lives only as long as its run: its CPU comes from `getrusage` of this
process's finished children instead, and its run-queue wait is not known.
"""

from __future__ import annotations

import resource
from dataclasses import dataclass
from pathlib import Path

GROUPS = ("gateway", "postgres", "redis", "wrk", "other")


@dataclass(frozen=True)
class Usage:
    """By group: nanoseconds run on a core and waited runnable, times put on a core."""

    ran: dict[str, int]
    waited: dict[str, int]
    slices: dict[str, int]

    def minus(self, earlier: Usage) -> Usage:
        return Usage(
            {g: self.ran[g] - earlier.ran[g] for g in GROUPS},
            {g: self.waited[g] - earlier.waited[g] for g in GROUPS},
            {g: self.slices[g] - earlier.slices[g] for g in GROUPS},
        )


def _children_ns() -> int:
    """CPU time of this process's finished children (wrk, once its run has ended)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return round((r.ru_utime + r.ru_stime) * 1e9)


def _group(pid: int, comm: str, gateway: set[int]) -> str:
    if pid in gateway:
        return "gateway"
    if comm.startswith("postgres"):
        return "postgres"
    if comm.startswith("redis-server"):
        return "redis"
    if comm == "wrk":
        return "wrk"
    return "other"


def sample(gateway_pids: list[int]) -> Usage:
    gateway = set(gateway_pids)
    ran = dict.fromkeys(GROUPS, 0)
    waited = dict.fromkeys(GROUPS, 0)
    slices = dict.fromkeys(GROUPS, 0)
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            comm = (proc / "comm").read_text().strip()
            group = _group(int(proc.name), comm, gateway)
            for task in (proc / "task").iterdir():
                fields = (task / "schedstat").read_text().split()
                ran[group] += int(fields[0])
                waited[group] += int(fields[1])
                slices[group] += int(fields[2])
        except (OSError, ValueError, IndexError):
            continue  # the process or thread ended while being read
    ran["wrk"] += _children_ns()
    return Usage(ran, waited, slices)


def describe(usage: Usage, checks: int, seconds: float) -> str:
    """CPU µs per request by group, cores busy, and run-queue wait per group."""
    if checks <= 0 or seconds <= 0:
        return "no checks"
    total = sum(usage.ran.values())
    per_check = ", ".join(
        f"{g} {usage.ran[g] / 1000 / checks:.0f}" for g in GROUPS if usage.ran[g] > 0
    )
    waits = ", ".join(
        f"{g} {usage.waited[g] / 1e6 / seconds:.0f}" for g in GROUPS if usage.waited[g] > 0
    )
    wakes = ", ".join(f"{g} {usage.slices[g] / checks:.2f}" for g in GROUPS if usage.slices[g] > 0)
    return (
        f"CPU a request {total / 1000 / checks:.0f} µs ({per_check}), "
        f"{total / 1e9 / seconds:.2f} cores busy; "
        f"waited for a core, ms a second: {waits}; put on a core, times a request: {wakes}"
    )
