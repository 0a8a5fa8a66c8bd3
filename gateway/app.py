"""The aiohttp application factory: pools, caches and background work are opened and
closed in cleanup contexts and kept under typed keys (gateway.appkeys)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import asyncpg
from aiohttp import web
from redis.exceptions import RedisError

from gateway import __version__
from gateway.api import (
    calls_routes,
    cdrs_routes,
    dnc_routes,
    evidence_routes,
    middleware,
    ops,
    precheck_routes,
    reference,
    registries_routes,
    review_routes,
    scrub_routes,
)
from gateway.api.routing import BODY_TIMEOUT, MAX_JSON_BYTES, UPLOAD_IDLE, Routes, RouteSpec
from gateway.appkeys import (
    CALL_EVENTS,
    CALLS,
    CDRS,
    CHECKER,
    CLOCK,
    DISPUTES,
    DNC,
    DNC_LIST,
    JOBS,
    KEYS,
    NOTIFICATIONS,
    PG,
    POLICIES,
    RECORDINGS,
    REDIS,
    REGISTRIES,
    REGISTRY_SERVICE,
    RETURN_VISITS,
    REVIEW,
    SCRUB_JOBS,
    SCRUBBER,
    SETTINGS,
    SIMULATIONS,
)
from gateway.core import metrics
from gateway.core.settings import Settings
from gateway.jobs.catalog import check_schedules
from gateway.jobs.scheduler import JobScheduler
from gateway.policy import parse_callee
from gateway.policy.days import covered_until_timestamp
from gateway.policy.numbers import CHINA_TZ
from gateway.services.auth import TokenVerifier
from gateway.services.call_events import CallEvents
from gateway.services.calls import Calls
from gateway.services.cdrs import Cdrs
from gateway.services.disputes import Disputes
from gateway.services.dnc_list import DncList
from gateway.services.dnc_since import ListedSinceLookup
from gateway.services.policies import Policies
from gateway.services.precheck import PreCallChecker
from gateway.services.recordings import Recordings
from gateway.services.registries import Registries
from gateway.services.return_visits import ReturnVisits
from gateway.services.review import Review
from gateway.services.scrubbing import Scrubber, ScrubJobs
from gateway.services.simulation import Simulations
from gateway.store import dnc_changes
from gateway.store.decisions import DecisionLog
from gateway.store.dnc_cache import DncCache
from gateway.store.dnc_changes import DNC_CHANNEL, KnownChanges
from gateway.store.keys import Keys
from gateway.store.notify import Notifications
from gateway.store.postgres import create_pool
from gateway.store.recording_storage import FilesystemStore
from gateway.store.redis import create_redis
from gateway.store.registry_cache import RegistryCache
from gateway.store.registry_rows import REGISTRY_CHANNEL

log = logging.getLogger("gateway.app")


def all_routes() -> list[Routes]:
    return [
        ops.routes,
        precheck_routes.routes,
        registries_routes.routes,
        reference.routes,
        dnc_routes.routes,
        scrub_routes.routes,
        calls_routes.routes,
        evidence_routes.routes,
        review_routes.routes,
        cdrs_routes.routes,
    ]


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    pool = await create_pool(s.database_url, min_size=s.pg_pool_min, max_size=s.pg_pool_max)
    app[PG] = pool
    app[middleware.TOKENS] = TokenVerifier(pool)  # expiry on the wall clock, not CLOCK
    yield
    await pool.close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    client = create_redis(app[SETTINGS].redis_url)
    app[REDIS] = client
    app[KEYS] = Keys(app[SETTINGS].redis_prefix)
    yield
    await client.aclose()


async def _notifications(app: web.Application) -> AsyncIterator[None]:
    notes = Notifications(app[SETTINGS].database_url)
    tokens = app[middleware.TOKENS]

    async def token_changed(token_id: str) -> None:
        tokens.forget(token_id)

    async def forget_tokens() -> None:
        tokens.forget()

    notes.subscribe("gateway_tokens", token_changed)
    notes.on_reconnect(forget_tokens)
    app[NOTIFICATIONS] = notes
    yield
    await notes.close()


async def _registries(app: web.Application) -> AsyncIterator[None]:
    # The number geocoder loads its data on first use (~0.4 s); pay that before serving.
    parse_callee("+8613800000000")
    cache = RegistryCache(app[PG], app[SETTINGS].snapshot_poll_seconds)
    app[NOTIFICATIONS].subscribe(REGISTRY_CHANNEL, cache.reload)
    app[NOTIFICATIONS].on_reconnect(cache.reload_all)
    await cache.start()
    app[REGISTRIES] = cache
    clock = app[CLOCK]
    app[REGISTRY_SERVICE] = Registries(app[PG], cache, clock)

    def calendar_covered_until() -> float:
        return covered_until_timestamp(clock(), cache.current.complete_years, CHINA_TZ)

    # One gauge per process: where one process runs several apps (tests), the last wins.
    metrics.CALENDAR_COVERED_UNTIL.set_function(calendar_covered_until)
    _warn_if_the_calendar_ends_soon(calendar_covered_until(), clock())
    yield
    await cache.close()


CALENDAR_WARN_DAYS = 60
RESYNC_RETRY_SECONDS = 0.5


def _warn_if_the_calendar_ends_soon(until: float, now: datetime) -> None:
    left = until - now.timestamp()
    if left >= CALENDAR_WARN_DAYS * 86400:
        return
    if until <= 0:
        log.warning(
            "the statutory calendar has run out: every pre-call check is denied with "
            "calendar_unavailable until this year's holiday schedule is entered "
            "(PUT /v1/holidays/{day}) and the year is declared complete "
            "(PUT /v1/holidays/years/{year})"
        )
        return
    last = datetime.fromtimestamp(until - 1, ZoneInfo(CHINA_TZ)).date()
    log.warning(
        "the statutory calendar runs out soon: after its last day every pre-call check is "
        "denied with calendar_unavailable; once the State Council publishes the next "
        "year's holiday schedule, enter it (PUT /v1/holidays/{day}) and declare the year "
        "complete (PUT /v1/holidays/years/{year})",
        extra={"fields": {"last_day": last.isoformat(), "days_left": int(left // 86400)}},
    )


async def _dnc(app: web.Application) -> AsyncIterator[None]:
    known = KnownChanges()
    notes = app[NOTIFICATIONS]
    pool = app[PG]

    async def resync() -> None:
        # Until this succeeds every check is denied, so try until it does (or the
        # connection is lost again, and the next reconnect tries anew).
        while notes.up:
            try:
                latest = await dnc_changes.latest(pool)
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError) as e:
                log.warning("do-not-call changes not resynced (checks deny meanwhile): %s", e)
                await asyncio.sleep(RESYNC_RETRY_SECONDS)
                continue
            if notes.up:
                known.reset(latest)
                cache.wake()
            return

    # Announcements are handled at once, not in a task of their own: a check that starts
    # after one arrived must see it.
    notes.listen_now(DNC_CHANNEL, known.heard)
    notes.on_reconnect(resync)
    notes.on_lost(known.lost)
    cache = DncCache(app[REDIS], pool, app[KEYS], app[CLOCK], known)
    app[DNC] = cache
    app[DNC_LIST] = DncList(app[PG], cache)
    app[CALL_EVENTS] = CallEvents(app[PG], app[DNC_LIST])
    app[CALLS] = Calls(app[PG], app[REGISTRIES])
    app[REVIEW] = Review(app[PG], app[REGISTRIES])
    app[CDRS] = Cdrs(app[PG], app[CLOCK])
    app[POLICIES] = Policies(app[PG], app[REGISTRIES], app[CLOCK])
    app[DISPUTES] = Disputes(app[PG], app[CLOCK])
    app[RETURN_VISITS] = ReturnVisits(app[PG], app[CLOCK])
    s = app[SETTINGS]
    store = FilesystemStore(s.recordings_dir, s.backup_dir)
    app[RECORDINGS] = Recordings(app[PG], store, s.max_recording_bytes)
    try:
        await cache.ensure()
    except (RedisError, OSError) as e:
        log.warning("do-not-call cache not built at start (%s); checks deny until it is", e)
    cache.start_watchdog()
    yield
    await cache.stop_watchdog()


async def _jobs(app: web.Application) -> AsyncIterator[None]:
    jobs = JobScheduler(app[PG], app[REDIS], app[DNC_LIST], app[SETTINGS], app[CLOCK])
    app[JOBS] = jobs
    if app[SETTINGS].scheduler:
        jobs.start()
    yield
    jobs.stop()


async def _checker(app: web.Application) -> AsyncIterator[None]:
    s = app[SETTINGS]
    decisions = DecisionLog(app[PG], max_batch=s.decision_batch_max, writers=s.decision_writers)
    decisions.start()
    listed = ListedSinceLookup(app[PG], s.database_url)
    app[CHECKER] = PreCallChecker(
        app[REDIS],
        app[KEYS],
        app[REGISTRIES],
        decisions,
        s.allow_valid_seconds,
        clock=app[CLOCK],
        known=app[DNC].known,
        behind=app[DNC].wake,
        timeout_ms=s.check_timeout_ms,
        listed=listed,
    )
    app[SIMULATIONS] = Simulations(app[PG], app[CHECKER])
    scrubber = Scrubber(app[REDIS], app[KEYS], app[REGISTRIES], app[CLOCK], app[DNC].known, listed)
    app[SCRUBBER] = scrubber
    app[SCRUB_JOBS] = ScrubJobs(app[PG], scrubber)
    yield
    await app[SCRUB_JOBS].close()
    await decisions.close()
    await app[CHECKER].close()
    listed.close()


async def _start_listening(app: web.Application) -> AsyncIterator[None]:
    # Runs after every component has subscribed.
    await app[NOTIFICATIONS].start()
    # Changes made before the listening began were not heard: require them all.
    app[DNC].known.reset(await dnc_changes.latest(app[PG]))
    app[DNC].wake()
    yield


async def _check_serving(app: web.Application) -> str | None:
    return "stopping" if app[middleware.IN_FLIGHT].draining else None


async def _check_postgres(app: web.Application) -> str | None:
    await app[PG].fetchval("SELECT 1")
    return None


async def _check_redis(app: web.Application) -> str | None:
    await app[REDIS].ping()
    # And on the connection the checks use.
    await app[CHECKER].ping()
    return None


async def _check_dnc(app: web.Application) -> str | None:
    cache = app[DNC]
    gen = await cache.live()
    if gen is None:
        return "the do-not-call cache is not loaded (rebuilding)"
    required = cache.known.required()
    if not cache.known.listening:
        return "not listening for do-not-call changes (reconnecting to PostgreSQL)"
    if gen.applied < required:
        return f"the do-not-call cache lacks changes {gen.applied + 1}-{required} (catching up)"
    return None


def _system_clock() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings, clock: Callable[[], datetime] | None = None) -> web.Application:
    app = web.Application(
        middlewares=[middleware.observe],
        client_max_size=settings.max_json_bytes,
    )
    check_schedules(settings.schedules)
    app[SETTINGS] = settings
    app[CLOCK] = clock or _system_clock
    app[MAX_JSON_BYTES] = settings.max_json_bytes
    app[BODY_TIMEOUT] = settings.body_timeout_seconds
    app[UPLOAD_IDLE] = settings.upload_idle_seconds
    app[middleware.ACCESS_LOG] = settings.access_log
    app[middleware.IN_FLIGHT] = middleware.InFlight()
    checks: list[tuple[str, ops.ReadinessCheck]] = [
        ("serving", _check_serving),
        ("postgres", _check_postgres),
        ("redis", _check_redis),
        ("dnc_cache", _check_dnc),
    ]
    app[ops.READINESS_CHECKS] = checks
    app.cleanup_ctx.extend(
        [_postgres, _redis, _notifications, _registries, _dnc, _jobs, _checker, _start_listening]
    )

    specs: dict[tuple[str, str], RouteSpec] = {}
    all_specs: list[RouteSpec] = []
    for group in all_routes():
        for spec in group.specs:
            route = app.router.add_route(spec.method, spec.path, spec.handler)
            resource = route.resource
            assert resource is not None
            specs[(spec.method, resource.canonical)] = spec
            all_specs.append(spec)
    app[middleware.ROUTE_SPECS] = specs
    app[ops.OPENAPI] = ops.build_openapi(all_specs, __version__)
    return app
