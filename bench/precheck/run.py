"""Benchmark of `POST /v1/precheck` against its ceiling, self-contained and repeatable.

    .venv/bin/python bench/precheck/run.py [--daytime] [--seconds 10] [--connections 48]

What one run does (about 2.7 minutes):

1. Creates its own PostgreSQL database (`gwbench_<random>`) and Redis key prefix
   (`gwbench:<random>:`), runs `gateway migrate` and `gateway demo`, bulk-loads 100,000
   do-not-call entries with COPY (5,000 of them numbers on the approved list), creates a
   dialer and an admin token with `gateway token create`.
2. Starts one gateway (the do-not-call cache of 100,000 entries is rebuilt at start; the
   time until /readyz answers 200 is reported), replaces the demo list with 50,000
   numbers (`PUT /v1/lists/leads-2026-11`, text/csv) and sets the policy
   (`PUT /v1/policy`: windows 09:00-21:00 for every day type, no attempt caps, no
   minimum gap), then stops it.
3. For one and for two processes (`--reuse-port` on one port; the kernel spreads the
   connections), each server from its own process(es), each run after a warm-up:
   * the ceilings (bench/precheck/ceiling.py): a bare aiohttp handler on uvloop making
     one Redis script call, once through the gateway's Redis pipe and once through
     redis-py's EVALSHA, at full speed;
   * the gateway (`gateway serve`) at full speed, then at about half that rate (wrk's
     delay() hook per connection, set after a short probe). After each of these two runs
     the decisions in PostgreSQL are compared with the answers wrk saw: as many rows as
     answers, as many `allow` rows as allowed answers, and the call_id of every allowed
     answer present as an `allow` row. Around both runs, each gateway process's own
     check-latency and decision-batch histograms are read on its `--metrics-port`
     (port + 100 + i), to tell a tail inside the check from one around it (HTTP,
     scheduling, wrk), and a slow commit from a slow check.
   Around every measured run, each thread's schedstat on the machine is read (cpu.py):
   the CPU a request cost the gateway, PostgreSQL, Redis and wrk, how long each waited
   for a core, and how often each was put on one.
4. Stops everything, drops the database and deletes the Redis keys (also on failure or
   Ctrl-C), prints the results as a markdown section and writes it to --markdown.

Before step 2, the disk under PostgreSQL's data directory is timed for --flush-seconds
(flush.py: 8 kB writes, each followed by fdatasync, as a commit's WAL flush does): a
disk whose flush stalls now and then sets the latency tail of every durable check.

Requests are marketing calls of the demo tenant (agent A1001, campaign term-life-q4,
script term-life-intro v3, list leads-2026-11) to a callee drawn at random from the
50,000 list numbers, each with a unique request_id; 10% of those callees are on the
do-not-call list. Calling hours are 09:00-21:00 Asia/Shanghai, so a run at night is all
denies (outside_calling_hours): still a full check, with its Redis script call and its
durable decision, but no attempt is counted and no allow is recorded. --daytime moves
the gateway's clock (only the gateway's: the clock `create_app` takes) to 12:00 of the
same day when the run happens outside the window, so that allows are measured.

The gateways run without the job scheduler (GATEWAY_SCHEDULER=false) and with
GATEWAY_LOG_LEVEL=WARNING. The exit status is 0 when every decision was found; the
targets are reported, not enforced.

Needs: wrk, PostgreSQL at --admin-url (a role that may create databases), Redis at
--redis-url. --profile also samples one gateway process with py-spy (when installed in
the virtualenv) during an extra, unreported run at the half rate and prints where time
goes. --capture (needs tcpdump and root) records the gateway's port during each half-rate
run and reports the latency the loopback interface saw (bench/precheck/capture.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import asyncpg
from redis.asyncio import Redis

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import unlink_prefix  # noqa: E402
from bench.precheck import cpu, flush  # noqa: E402
from bench.precheck.capture import Capture  # noqa: E402

BIN = Path(sys.executable).parent
LIST_ID = "leads-2026-11"
CHINA = ZoneInfo("Asia/Shanghai")
MOBILE_PREFIXES = ("135", "136", "137", "138", "139", "150", "151", "186", "187", "188")
DEMO_DNC_NUMBER = "+8613912345678"
T = TypeVar("T")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    async def go() -> T:
        return await make()

    return asyncio.run(go())


# --- data ---------------------------------------------------------------------------------


def mobile_numbers(rng: random.Random, count: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < count:
        number = f"+86{rng.choice(MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
        if number not in taken:
            taken.add(number)
            out.append(number)
    return out


@dataclass
class Dataset:
    list_numbers: list[str]
    dnc: list[tuple[str, str]]  # (number, scope)
    on_list_and_dnc: int


def make_dataset(seed: int, list_size: int, dnc_size: int, dnc_share: float) -> Dataset:
    rng = random.Random(seed)
    taken = {DEMO_DNC_NUMBER}
    listed = mobile_numbers(rng, list_size, taken)
    overlap = rng.sample(listed, int(list_size * dnc_share))
    dnc = [(n, "marketing") for n in overlap]
    for n in mobile_numbers(rng, dnc_size - len(overlap), taken):
        dnc.append((n, "all" if rng.random() < 0.2 else "marketing"))
    return Dataset(listed, dnc, len(overlap))


# --- processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


@dataclass
class Servers:
    name: str
    port: int
    procs: list[Proc] = field(default_factory=list)

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self.procs]


def start_servers(
    name: str,
    cmd: list[str],
    count: int,
    port: int,
    env: dict[str, str],
    work: Path,
    each: Callable[[int], list[str]] = lambda i: [],
) -> Servers:
    """Start `count` processes of `cmd`, the i-th with `each(i)` appended."""
    servers = Servers(name, port)
    for i in range(count):
        log_path = work / f"{name}-{port}-{i}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                [*cmd, *each(i)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
        servers.procs.append(Proc(popen, log_path))
    return servers


def listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    return inodes


def is_listening(pid: int, inodes: set[str]) -> bool:
    fd_dir = Path(f"/proc/{pid}/fd")
    try:
        for fd in fd_dir.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                return True
    except OSError:
        return False
    return False


def wait_ready(servers: Servers, ready_path: str, timeout: float = 120.0) -> float:
    """Waits until every process listens on the port and `ready_path` answers 200."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        for p in servers.procs:
            if p.popen.poll() is not None:
                raise RuntimeError(
                    f"{servers.name} exited with {p.popen.returncode}:\n{p.log_text()[-3000:]}"
                )
        inodes = listening_inodes(servers.port)
        if all(is_listening(pid, inodes) for pid in servers.pids()):
            status, _ = http("GET", servers.port, ready_path)
            if status == 200:
                return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"{servers.name} not ready after {timeout:.0f} s")


def stop_servers(servers: Servers | None) -> None:
    if servers is None:
        return
    for p in servers.procs:
        if p.popen.poll() is None:
            p.popen.send_signal(signal.SIGTERM)
    for p in servers.procs:
        try:
            p.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.popen.kill()
            p.popen.wait()


def http(
    method: str,
    port: int,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    headers = {"Content-Type": content_type}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=body, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError:
        return 0, None


HISTOGRAMS = ("gateway_check_seconds", "gateway_decision_write_seconds")


def read_histograms(port: int) -> dict[str, dict[float, float]]:
    """A gateway process's latency histograms (HISTOGRAMS: the check, request to durable
    answer; the decision batch's insert and commit), read from its own metrics port:
    cumulative counts by upper bound in seconds, by metric name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out: dict[str, dict[float, float]] = {name: {} for name in HISTOGRAMS}
    for line in text.splitlines():
        name, _, rest = line.partition('_bucket{le="')
        if name in out and rest:
            bound = rest.split('"')[0]
            out[name][float("inf") if bound == "+Inf" else float(bound)] = float(line.split()[-1])
    return out


def metrics_port(port: int, process: int) -> int:
    """Where the i-th gateway process on `port` answers /metrics alone."""
    return port + 100 + process


def spread(before: dict[float, float], after: dict[float, float], what: str) -> str:
    """How the observations of one histogram between two reads were spread."""
    delta = {le: after[le] - before.get(le, 0.0) for le in sorted(after)}
    total = delta.get(float("inf"), 0.0)
    if not total:
        return f"no {what}"
    p99 = next(le for le, n in delta.items() if n >= 0.99 * total)
    over_10 = 1 - delta.get(0.01, 0.0) / total
    p99_text = "over 1 s" if p99 == float("inf") else f"at most {p99 * 1000:g} ms"
    bounds = list(delta)
    top = max(i for i, le in enumerate(bounds) if delta[le] > (delta[bounds[i - 1]] if i else 0))
    low = f"{bounds[top - 1] * 1000:g}" if top else "0"
    high = "" if bounds[top] == float("inf") else f"-{bounds[top] * 1000:g}"
    slowest = f"the slowest {low}{high} ms" if high else f"the slowest over {low} ms"
    return f"{total:,.0f} {what}, p99 {p99_text}, {over_10:.2%} over 10 ms, {slowest}"


def inside_gateway(
    before: dict[str, dict[float, float]], after: dict[str, dict[float, float]]
) -> str:
    """How the checks of a run, and the decision batches they waited for, were spread
    inside one gateway process, from two reads of its histograms."""
    checks = spread(before[HISTOGRAMS[0]], after[HISTOGRAMS[0]], "checks")
    writes = spread(before[HISTOGRAMS[1]], after[HISTOGRAMS[1]], "decision batches")
    return f"{checks} ({writes})"


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    label: str
    connections: int
    seconds: float
    answered: int
    allowed: int
    denied: int
    not_ok: int
    reasons: dict[str, int]
    errors: dict[str, int]
    latency_us: dict[str, float]
    allow_ids: list[str]
    delay_ms: int = 0
    target_rate: float | None = None
    usage: cpu.Usage | None = None  # of the whole machine, while wrk ran

    @property
    def cpu(self) -> str:
        if self.usage is None:
            return "not measured"
        return cpu.describe(self.usage, self.answered, self.seconds)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0

    @property
    def tail(self) -> str:
        ms = {k: v / 1000 for k, v in self.latency_us.items()}
        return f"p90 {ms['p90']:.2f}, p99.9 {ms['p999']:.2f}, max {ms['max']:.2f}"

    @property
    def p50_ms(self) -> float:
        return self.latency_us["p50"] / 1000

    @property
    def p99_ms(self) -> float:
        return self.latency_us["p99"] / 1000


def run_wrk(
    label: str,
    port: int,
    seconds: float,
    args: argparse.Namespace,
    env: dict[str, str],
    work: Path,
    delay_ms: int = 0,
    server_pids: list[int] | None = None,
) -> WrkResult:
    out = work / f"wrk-{label}.json"
    wrk_env = dict(env)
    wrk_env.update(
        BENCH_NUMBERS=str(work / "callees.txt"),
        BENCH_TAG=f"{label}-{secrets.token_hex(3)}",
        BENCH_SECONDS=str(seconds),
        BENCH_DELAY_MS=str(delay_ms),
        BENCH_OUT=str(out),
        BENCH_SEED=str(args.seed),
    )
    tail = 2
    cmd = [
        args.wrk,
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{int(seconds + tail + 0.999)}s",
        "--timeout",
        "5s",
        "-s",
        str(HERE / "wrk_precheck.lua"),
        f"http://127.0.0.1:{port}",
    ]
    before = cpu.sample(server_pids or [])
    proc = subprocess.run(cmd, env=wrk_env, capture_output=True, text=True, check=False)
    usage = cpu.sample(server_pids or []).minus(before)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(out.read_text())
    ids_path = Path(str(out) + ".ids")
    ids = [line for line in ids_path.read_text().splitlines() if line]
    return WrkResult(
        label=label,
        connections=args.connections,
        seconds=data["seconds"],
        answered=data["answered"],
        allowed=data["allowed"],
        denied=data["denied"],
        not_ok=data["not_ok"],
        reasons=data["reasons"],
        errors=data["errors"],
        latency_us=data["latency_us"],
        allow_ids=ids,
        delay_ms=delay_ms,
        usage=usage,
    )


# --- the run ------------------------------------------------------------------------------


@dataclass
class Verification:
    rows: int
    allow_rows: int
    allow_ids_found: int

    def matches(self, r: WrkResult) -> bool:
        return (
            self.rows == r.answered
            and self.allow_rows == r.allowed
            and self.allow_ids_found == len(r.allow_ids) == r.allowed
        )


@dataclass
class Measurement:
    procs: int
    ceilings: dict[str, WrkResult]  # by the ceiling's Redis client: "pipe", "redis-py"
    full: WrkResult
    half: WrkResult
    full_check: Verification
    half_check: Verification

    def ratio(self, client: str) -> float:
        return self.full.rate / self.ceilings[client].rate


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.run_id = secrets.token_hex(4)
        self.db_name = f"gwbench_{self.run_id}"
        base, _, _ = args.admin_url.rpartition("/")
        self.db_url = f"{base}/{self.db_name}"
        self.prefix = f"gwbench:{self.run_id}:"
        self.work = Path(tempfile.mkdtemp(prefix="gwbench-"))
        self.env = dict(os.environ)
        self.env.update(
            GATEWAY_DATABASE_URL=self.db_url,
            GATEWAY_REDIS_URL=args.redis_url,
            GATEWAY_REDIS_PREFIX=self.prefix,
            GATEWAY_LOG_LEVEL="WARNING",
            GATEWAY_SCHEDULER="false",  # no nightly job in the middle of a measurement
        )
        self.db_created = False
        self.servers: Servers | None = None
        self.dialer = ""
        self.admin = ""
        self.clock_shift = 0.0
        self.rebuild_ready_s = 0.0
        self.dnc_entries = 0
        self.list_size = 0
        self.dataset: Dataset | None = None
        self.notes: list[str] = []
        self.pg_version = "PostgreSQL"
        self.started_at = datetime.now(UTC)

    # setup

    def gateway_cli(self, *cli_args: str) -> str:
        proc = subprocess.run(
            [str(BIN / "gateway"), *cli_args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"gateway {' '.join(cli_args)} failed:\n{proc.stderr}")
        return proc.stdout

    def setup_database(self) -> None:
        async def create() -> None:
            admin = await asyncpg.connect(self.args.admin_url)
            try:
                await admin.execute(f'CREATE DATABASE "{self.db_name}"')
            finally:
                await admin.close()

        run_async(create)
        self.db_created = True
        log(f"database {self.db_name}, redis prefix {self.prefix}")

        self.gateway_cli("migrate")
        if not run_async(lambda: self.fetchval("SELECT to_regclass('calls') IS NOT NULL")):
            raise RuntimeError("gateway migrate did not create the schema")
        self.gateway_cli("demo")
        if not run_async(lambda: self.fetchval("SELECT count(*) FROM campaigns")):
            raise RuntimeError("gateway demo did not load the demo tenant")
        self.dialer = self.token("dialer", "bench")
        self.admin = self.token("admin", "bench-admin")

        self.dataset = make_dataset(
            self.args.seed, self.args.list_size, self.args.dnc, self.args.dnc_share
        )
        (self.work / "callees.txt").write_text("\n".join(self.dataset.list_numbers) + "\n")
        self.dnc_entries = run_async(self.copy_dnc)
        log(f"{self.dnc_entries} do-not-call entries in PostgreSQL (COPY)")

    def token(self, role: str, name: str) -> str:
        out = self.gateway_cli("token", "create", "--role", role, "--name", name)
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if not last.startswith("gw_"):
            raise RuntimeError(f"gateway token create printed no token:\n{out}")
        return last

    async def fetchval(self, sql: str, *params: Any) -> Any:
        conn = await asyncpg.connect(self.db_url)
        try:
            return await conn.fetchval(sql, *params)
        finally:
            await conn.close()

    async def copy_dnc(self) -> int:
        assert self.dataset is not None
        conn = await asyncpg.connect(self.db_url)
        try:
            await conn.copy_records_to_table(
                "dnc_entries",
                records=[
                    (n, scope, "import", "benchmark", "bench") for n, scope in self.dataset.dnc
                ],
                columns=["number", "scope", "source", "reason", "created_by"],
            )
            count: int = await conn.fetchval(
                "SELECT count(*) FROM dnc_entries WHERE ended_at IS NULL"
            )
            return count
        finally:
            await conn.close()

    def gateway_cmd(self, port: int, reuse_port: bool) -> list[str]:
        serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
        if reuse_port:
            serve.append("--reuse-port")
        if not self.clock_shift:
            return [str(BIN / "gateway"), *serve]
        # The gateway's clock only (create_app takes it from gateway.app._system_clock).
        launcher = (
            "import sys, datetime as d, gateway.app as a; "
            "s = d.timedelta(seconds=float(sys.argv[1])); "
            "a._system_clock = lambda: d.datetime.now(d.UTC) + s; "
            "from gateway.cli import main; raise SystemExit(main(sys.argv[2:]))"
        )
        return [sys.executable, "-c", launcher, str(self.clock_shift), *serve]

    def probe_flush(self) -> None:
        """Times the disk's flush beside PostgreSQL's data directory (flush.py), when
        the server is on this machine and the directory's parent is writable."""
        if self.args.flush_seconds <= 0:
            return
        data_dir = run_async(lambda: self.fetchval("SELECT current_setting('data_directory')"))
        parent = Path(data_dir).parent
        host = self.db_url.split("@")[-1].split("/")[0].split(":")[0]
        if host not in ("127.0.0.1", "localhost", "::1", "") or not os.access(parent, os.W_OK):
            self.notes.append(f"the disk's flush was not measured ({parent} not writable here)")
            return
        result = flush.probe(parent, self.args.flush_seconds)
        self.notes.append(f"the database's disk, before the runs: {result.describe()}")
        log(self.notes[-1])

    def decide_clock(self) -> None:
        local = datetime.now(CHINA)
        inside = 9 * 60 + 5 <= local.hour * 60 + local.minute < 20 * 60 + 45
        if inside or not self.args.daytime:
            if not inside:
                self.notes.append(
                    f"run at {local:%H:%M} Asia/Shanghai, outside the 09:00-21:00 calling "
                    "window: every check is denied (outside_calling_hours) -- still a full "
                    "check with one Redis script call and a durable decision"
                )
            return
        # Move the gateway's clock to 12:00 the same local day (before or after now).
        noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
        self.clock_shift = (noon - local).total_seconds()
        self.notes.append(
            f"run at {local:%H:%M} Asia/Shanghai with --daytime: the gateway's clock was moved "
            f"by {self.clock_shift / 3600:+.2f} h to 12:00 local time, inside the calling window"
        )
        log(self.notes[-1])

    def configure_registries(self) -> None:
        assert self.dataset is not None
        port = self.args.port
        self.servers = start_servers(
            "gateway-setup", self.gateway_cmd(port, False), 1, port, self.env, self.work
        )
        self.rebuild_ready_s = wait_ready(self.servers, "/readyz")
        log(f"gateway ready in {self.rebuild_ready_s:.1f} s (do-not-call cache rebuilt)")

        status, policy = http("GET", port, "/v1/policy", token=self.admin)
        if status != 200:
            raise RuntimeError(f"GET /v1/policy: {status} {policy}")
        window = [{"start": "09:00", "end": "21:00"}]
        policy["hours"] = {"workday": window, "restday": window, "holiday": window}
        policy["province_hours"] = {}
        policy["frequency"] = {"per_day": None, "per_7_days": None, "min_gap_minutes": 0}
        status, body = http("PUT", port, "/v1/policy", json.dumps(policy).encode(), self.admin)
        if status != 200:
            raise RuntimeError(f"PUT /v1/policy: {status} {body}")

        csv = ("number\n" + "\n".join(self.dataset.list_numbers) + "\n").encode()
        status, body = http(
            "PUT",
            port,
            f"/v1/lists/{LIST_ID}?provenance=benchmark",
            csv,
            self.admin,
            content_type="text/csv",
        )
        if status not in (200, 201) or body.get("invalid_count"):
            raise RuntimeError(f"PUT /v1/lists/{LIST_ID}: {status} {str(body)[:500]}")
        self.list_size = int(body["size"])
        log(f"list {LIST_ID}: {self.list_size} numbers; policy set")
        stop_servers(self.servers)
        self.servers = None

    # measuring

    async def decision_counts(self) -> tuple[int, int]:
        conn = await asyncpg.connect(self.db_url)
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS n, count(*) FILTER (WHERE decision = 'allow') AS allow "
                "FROM calls"
            )
            assert row is not None
            return int(row["n"]), int(row["allow"])
        finally:
            await conn.close()

    async def allow_ids_found(self, ids: list[str]) -> int:
        if not ids:
            return 0
        conn = await asyncpg.connect(self.db_url)
        try:
            found: int = await conn.fetchval(
                "SELECT count(*) FROM calls WHERE decision = 'allow' AND call_id = ANY($1::uuid[])",
                ids,
            )
            return found
        finally:
            await conn.close()

    def verified_run(self, label: str, delay_ms: int = 0) -> tuple[WrkResult, Verification]:
        rows0, allow0 = run_async(self.decision_counts)
        assert self.servers is not None
        result = run_wrk(
            label,
            self.args.port,
            self.args.seconds,
            self.args,
            self.wrk_env(),
            self.work,
            delay_ms,
            self.servers.pids(),
        )
        rows1, allow1 = run_async(self.decision_counts)
        found = run_async(lambda: self.allow_ids_found(result.allow_ids))
        check = Verification(rows1 - rows0, allow1 - allow0, found)
        log(
            f"{label}: {result.rate:,.0f} checks/s, p50 {result.p50_ms:.2f} ms, "
            f"p99 {result.p99_ms:.2f} ms ({result.tail}); "
            f"{result.answered} answers ({result.allowed} allow), "
            f"{check.rows} rows ({check.allow_rows} allow, {check.allow_ids_found} ids found); "
            f"{result.cpu}"
        )
        return result, check

    def wrk_env(self) -> dict[str, str]:
        env = dict(self.env)
        env["BENCH_TOKEN"] = self.dialer
        return env

    def measure(self, procs: int) -> Measurement:
        args = self.args
        reuse = procs > 1 or args.always_reuse_port
        ceilings: dict[str, WrkResult] = {}
        for client in ceiling_clients(args):
            ceilings[client] = self.ceiling(procs, client, reuse)

        # The gateway.
        self.servers = start_servers(
            "gateway",
            self.gateway_cmd(args.port, reuse),
            procs,
            args.port,
            self.env,
            self.work,
            lambda i: ["--metrics-port", str(metrics_port(args.port, i))],
        )
        wait_ready(self.servers, "/readyz")
        run_wrk(f"gateway{procs}-warm", args.port, args.warmup, args, self.wrk_env(), self.work)
        metrics_ports = [metrics_port(args.port, i) for i in range(procs)]
        before = [read_histograms(p) for p in metrics_ports]
        full, full_check = self.verified_run(f"gateway{procs}-full")
        self.note_inside(procs, "full speed", before, metrics_ports)
        target = full.rate / 2
        # Each connection sends a request, waits for the answer, then waits delay() (mean
        # delay_ms): rate = connections / (delay + latency). A short probe measures the
        # latency at about that rate (its median: a stall must not set the delay), then
        # the delay is set for the target.
        period_ms = args.connections * 1000 / target
        probe = run_wrk(
            f"gateway{procs}-probe",
            args.port,
            3,
            args,
            self.wrk_env(),
            self.work,
            max(1, round(period_ms - 2)),
        )
        delay_ms = max(1, round(max(period_ms - probe.p50_ms, period_ms / 2)))
        before = [read_histograms(p) for p in metrics_ports]
        capture = Capture(args.port, self.work / f"half-{procs}.pcap") if args.capture else None
        with capture or nullcontext():
            half, half_check = self.verified_run(f"gateway{procs}-half", delay_ms)
        half.target_rate = target
        self.note_inside(procs, "half rate", before, metrics_ports)
        if capture is not None:
            self.notes.append(
                f"{procs} process{'es' if procs > 1 else ''}, half rate, at the loopback "
                f"interface (tcpdump; request sent to answer sent): {capture.latency().describe()}"
            )
            log(self.notes[-1])
        if args.profile and procs == 1:
            self.profile(delay_ms)
        stop_servers(self.servers)
        self.servers = None
        return Measurement(procs, ceilings, full, half, full_check, half_check)

    def note_inside(
        self, procs: int, load: str, before: list[dict[str, dict[float, float]]], ports: list[int]
    ) -> None:
        """Where the tail of the run just ended is: inside the gateway (the check, Redis,
        the decision's commit) or around it (HTTP, scheduling, wrk)."""
        inside = "; ".join(
            inside_gateway(b, read_histograms(p)) for b, p in zip(before, ports, strict=True)
        )
        self.notes.append(
            f"{procs} process{'es' if procs > 1 else ''}, {load}, measured inside the "
            f"gateway (request to durable answer, each process's own histogram): {inside}"
        )
        log(self.notes[-1])

    def ceiling(self, procs: int, client: str, reuse: bool) -> WrkResult:
        args = self.args
        cmd = [sys.executable, str(HERE / "ceiling.py"), "--port", str(args.ceiling_port)]
        cmd += ["--client", client] + (["--reuse-port"] if reuse else [])
        self.servers = start_servers("ceiling", cmd, procs, args.ceiling_port, self.env, self.work)
        try:
            wait_ready(self.servers, "/healthz")
            label = f"ceiling-{client}-{procs}"
            port = args.ceiling_port
            run_wrk(f"{label}-warm", port, args.warmup, args, self.wrk_env(), self.work)
            pids = self.servers.pids()
            result = run_wrk(label, port, args.seconds, args, self.wrk_env(), self.work, 0, pids)
        finally:
            stop_servers(self.servers)
            self.servers = None
        log(
            f"ceiling ({client}) x{procs}: {result.rate:,.0f} req/s, "
            f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms; {result.cpu}"
        )
        return result

    def profile(self, delay_ms: int) -> None:
        """Samples one gateway process at the half rate just measured: there each check
        shares least, and the tail is."""
        spy = BIN / "py-spy"
        if not spy.exists():
            log("no py-spy in the virtualenv; skipping the profile")
            return
        assert self.servers is not None
        pid = self.servers.pids()[0]
        raw = self.work / "profile.txt"
        seconds = int(self.args.seconds)
        spy_proc = subprocess.Popen(
            [
                str(spy),
                "record",
                "-d",
                str(seconds),
                "-r",
                "500",
                "--nonblocking",
                "-f",
                "raw",
                "-o",
                str(raw),
                "--pid",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        run_wrk(
            "gateway1-profiled",
            self.args.port,
            seconds,
            self.args,
            self.wrk_env(),
            self.work,
            delay_ms,
        )
        spy_proc.wait(timeout=60)
        if raw.exists():
            print_profile(raw)
            shutil.copy(raw, Path(tempfile.gettempdir()) / "gwbench-profile.txt")
            log(f"raw profile kept in {Path(tempfile.gettempdir()) / 'gwbench-profile.txt'}")

    # teardown

    def cleanup(self) -> None:
        try:
            stop_servers(self.servers)
        finally:
            self.servers = None

        async def drop() -> None:
            if self.db_created:
                admin = await asyncpg.connect(self.args.admin_url)
                try:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
                finally:
                    await admin.close()
            redis: Redis = Redis.from_url(self.args.redis_url)
            try:
                await unlink_prefix(redis, self.prefix)
            finally:
                await redis.aclose()

        run_async(drop)
        shutil.rmtree(self.work, ignore_errors=True)
        log(f"dropped {self.db_name} and the keys under {self.prefix}")


# --- reporting ----------------------------------------------------------------------------


def print_profile(raw: Path, top: int = 30) -> None:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [re.sub(r" \((.*/)?([^/]+):\d+\)$", r" (\2)", f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return
    print(f"\nprofile: {total} samples of the busy gateway process")
    print(f"\n{'self %':>7}  function")
    for frame, count in own.most_common(top):
        print(f"{100 * count / total:6.1f}%  {frame}")
    print(f"\n{'total %':>7}  function")
    for frame, count in inclusive.most_common(top):
        print(f"{100 * count / total:6.1f}%  {frame}")


def _relative(path: Path) -> str:
    """`path` from the project root when it is inside it (the virtualenv that ran this)."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def python_build() -> str:
    """Which interpreter ran the gateway: builds of one version differ by a third here."""
    base = Path(sys.base_prefix)
    shared = any(base.glob("lib/libpython3*.so*"))
    args = str(sysconfig.get_config_var("CONFIG_ARGS") or "")
    if str(base) == "/usr":
        how = "the distribution's build"
    elif "--enable-optimizations" in args:
        how = "built with --enable-optimizations"
    else:
        how = "built without --enable-optimizations"
    return f"{Path(sys.executable).resolve()}, {how}" + (", libpython shared" if shared else "")


def machine() -> dict[str, str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])

    def version(cmd: list[str], pattern: str) -> str:
        try:
            text = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout
        except OSError:
            return "unknown"
        m = re.search(pattern, text)
        return m.group(1) if m else "unknown"

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "python": f"{platform.python_version()} ({python_build()})",
        "redis": version(["redis-cli", "INFO", "server"], r"redis_version:(\S+)"),
        "wrk": version(["wrk", "--version"], r"wrk (\S+)"),
    }


def mix(r: WrkResult) -> str:
    if not r.answered:
        return "-"
    deny = {k: v for k, v in r.reasons.items() if not k.startswith("http_")}
    parts = [f"{100 * r.allowed / r.answered:.0f}% allow"]
    parts += [
        f"{100 * v / r.answered:.0f}% {k}" for k, v in sorted(deny.items(), key=lambda x: -x[1])
    ]
    return ", ".join(parts)


def ceiling_clients(args: argparse.Namespace) -> list[str]:
    return [c for c in args.ceilings.split(",") if c and c != "none"]


def table(ms: list[Measurement], clients: list[str]) -> str:
    ratio_heads = "".join(f" ratio to ceiling ({c}) |" for c in clients)
    lines = [
        f"| processes | server | load | checks/s | p50 ms | p99 ms |{ratio_heads}"
        " answers: allow / deny / non-200 | decisions in PostgreSQL |",
        "| ---: | --- | --- | ---: | ---: | ---: |" + " ---: |" * len(clients) + " --- | --- |",
    ]
    dashes = " - |" * len(clients)

    def verdict(r: WrkResult, v: Verification) -> str:
        ok = "match" if v.matches(r) else "MISMATCH"
        return f"{v.rows} rows, {v.allow_rows} allow, {v.allow_ids_found} allow ids found: {ok}"

    for m in ms:
        for client, c in m.ceilings.items():
            lines.append(
                f"| {m.procs} | ceiling ({client}) | max | {c.rate:,.0f} | {c.p50_ms:.2f} "
                f"| {c.p99_ms:.2f} |{dashes} - | - |"
            )
        f, h = m.full, m.half
        ratios = "".join(f" {m.ratio(c):.2f} |" for c in clients)
        lines.append(
            f"| {m.procs} | gateway | max | {f.rate:,.0f} | {f.p50_ms:.2f} | {f.p99_ms:.2f} "
            f"|{ratios} {f.allowed} / {f.denied} / {f.not_ok} | {verdict(f, m.full_check)} |"
        )
        lines.append(
            f"| {m.procs} | gateway | half: {h.target_rate or 0:,.0f}/s aimed | {h.rate:,.0f} "
            f"| {h.p50_ms:.2f} | {h.p99_ms:.2f} |{dashes} {h.allowed} / {h.denied} / "
            f"{h.not_ok} | {verdict(h, m.half_check)} |"
        )
    return "\n".join(lines)


def markdown(ms: list[Measurement], bench: Bench, args: argparse.Namespace) -> str:
    mc = machine()
    when = bench.started_at
    clients = ceiling_clients(args)
    targets = []
    for m in ms:
        found = m.full_check.matches(m.full) and m.half_check.matches(m.half)
        ratios = (
            ", ".join(
                f"{m.ratio(c):.2f} to the {c} ceiling ({'met' if m.ratio(c) >= 0.5 else 'NOT met'})"
                for c in clients
            )
            or "not measured (no ceiling)"
        )
        targets.append(
            f"- {m.procs} process{'es' if m.procs > 1 else ''}: ratio {ratios}, target >= 0.5; "
            f"p99 at {m.half.rate:,.0f}/s (half of max: {m.full.rate / 2:,.0f}/s) "
            f"{m.half.p99_ms:.2f} ms ({'met' if m.half.p99_ms <= 10 else 'NOT met'}, "
            f"target <= 10 ms); decisions in PostgreSQL {'all found' if found else 'MISMATCH'}"
        )
    mixes = [f"- {m.procs} process{'es' if m.procs > 1 else ''}, max: {mix(m.full)}" for m in ms]
    notes = [f"- {n}" for n in bench.notes]
    usage = []
    for m in ms:
        procs = f"{m.procs} process{'es' if m.procs > 1 else ''}"
        for client, c in m.ceilings.items():
            usage.append(f"- {procs}, ceiling ({client}): {c.cpu}")
        usage.append(f"- {procs}, gateway at max: {m.full.cpu}")
        usage.append(f"- {procs}, gateway at half rate: {m.half.cpu}")
    return "\n".join(
        [
            f"### Run of {when:%Y-%m-%d %H:%M} UTC ({when.astimezone(CHINA):%H:%M} Asia/Shanghai)",
            "",
            "Command: `"
            + " ".join([_relative(BIN / "python"), "bench/precheck/run.py", *sys.argv[1:]])
            + "`",
            "",
            f"Machine: {mc['cpu']}, {mc['cores']} cores, {mc['memory']}, Linux {mc['kernel']}, "
            f"Python {mc['python']}, Redis {mc['redis']}, {bench.pg_version}, wrk {mc['wrk']}",
            "",
            f"Load: wrk {args.threads} threads, {args.connections} connections, "
            f"{args.warmup:g} s warm-up then {args.seconds:g} s measured per row; "
            f"{bench.dnc_entries:,} do-not-call entries, list of {bench.list_size:,} numbers "
            f"({bench.dataset.on_list_and_dnc if bench.dataset else 0:,} of them on the "
            f"do-not-call list); the do-not-call cache rebuild at start took "
            f"{bench.rebuild_ready_s:.1f} s until /readyz was 200.",
            "",
            table(ms, clients),
            "",
            "Targets:",
            *targets,
            "",
            "Answer mix (share of answers giving each reason; a deny may give several):",
            *mixes,
            "",
            "Where the CPU went (the whole machine while wrk ran, from each thread's "
            "schedstat; µs a request by process group, and how long each group waited "
            "runnable for a core):",
            *usage,
            *(["", "Notes:", *notes] if notes else []),
            "",
        ]
    )


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so the cleanup runs."""

    def raise_interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark POST /v1/precheck against a bare aiohttp + Redis ceiling."
    )
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--port", type=int, default=18080, help="gateway port")
    parser.add_argument("--ceiling-port", type=int, default=18090)
    parser.add_argument(
        "--ceilings",
        default="pipe,redis-py",
        help="the ceilings to measure, by how they call Redis: pipe (the gateway's "
        "gateway.store.redis_pipe), redis-py (the redis-py client's EVALSHA); none",
    )
    parser.add_argument("--processes", default="1,2", help="process counts to measure")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=48, help="wrk connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per row")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds")
    parser.add_argument("--list-size", type=int, default=50_000)
    parser.add_argument("--dnc", type=int, default=100_000, help="do-not-call entries")
    parser.add_argument(
        "--dnc-share", type=float, default=0.1, help="share of list numbers on the DNC list"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--daytime",
        action="store_true",
        help="outside 09:00-21:00 Asia/Shanghai, move the gateway's clock to 12:00 local",
    )
    parser.add_argument(
        "--always-reuse-port",
        action="store_true",
        help="start single processes with --reuse-port too",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy one gateway process")
    parser.add_argument(
        "--capture",
        action="store_true",
        help="tcpdump the gateway's port during each half-rate run and report the latency "
        "the loopback interface saw, and the bursts of requests held up together",
    )
    parser.add_argument("--markdown", default=str(HERE / "last-run.md"))
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk")
    parser.add_argument("--keep", action="store_true", help="keep the database and keys")
    parser.add_argument(
        "--flush-seconds",
        type=float,
        default=10.0,
        help="time the disk's fdatasync beside PostgreSQL's data directory first (0: skip)",
    )
    args = parser.parse_args()
    if not Path(args.wrk).exists():
        print(f"error: wrk not found ({args.wrk})", file=sys.stderr)
        return 2
    for port in (args.port, args.ceiling_port):
        if listening_inodes(port):
            print(f"error: port {port} is in use (--port, --ceiling-port)", file=sys.stderr)
            return 2

    bench = Bench(args)
    started = time.monotonic()
    measurements: list[Measurement] = []
    try:
        with interruptible():
            bench.setup_database()
            bench.pg_version = run_async(
                lambda: bench.fetchval("SELECT 'PostgreSQL ' || current_setting('server_version')")
            )
            bench.probe_flush()
            bench.decide_clock()
            bench.configure_registries()
            for procs in (int(p) for p in args.processes.split(",")):
                measurements.append(bench.measure(procs))
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if args.keep:
            stop_servers(bench.servers)
            log(f"kept {bench.db_name}, keys under {bench.prefix}, files in {bench.work}")
        else:
            bench.cleanup()
    text = markdown(measurements, bench, args)
    print()
    print(text)
    Path(args.markdown).write_text(text)
    log(f"done in {time.monotonic() - started:.0f} s; markdown section in {args.markdown}")
    # The exit status says whether every answer's decision was found; the targets
    # depend on the machine and are reported, not enforced.
    ok = all(m.full_check.matches(m.full) and m.half_check.matches(m.half) for m in measurements)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
