"""Typed keys for what the application holds: settings, pools, caches, services."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from gateway.core.settings import Settings
from gateway.jobs.scheduler import JobScheduler
from gateway.services.call_events import CallEvents
from gateway.services.calls import Calls
from gateway.services.cdrs import Cdrs
from gateway.services.disputes import Disputes
from gateway.services.dnc_list import DncList
from gateway.services.policies import Policies
from gateway.services.precheck import PreCallChecker
from gateway.services.recordings import Recordings
from gateway.services.registries import Registries
from gateway.services.return_visits import ReturnVisits
from gateway.services.review import Review
from gateway.services.scrubbing import Scrubber, ScrubJobs
from gateway.services.simulation import Simulations
from gateway.store.dnc_cache import DncCache
from gateway.store.keys import Keys
from gateway.store.notify import Notifications
from gateway.store.registry_cache import RegistryCache

SETTINGS = web.AppKey("settings", Settings)
PG = web.AppKey("pg", asyncpg.Pool)
REDIS = web.AppKey("redis", Redis)
KEYS = web.AppKey("keys", Keys)
NOTIFICATIONS = web.AppKey("notifications", Notifications)
REGISTRIES = web.AppKey("registries", RegistryCache)
REGISTRY_SERVICE = web.AppKey("registry_service", Registries)
DNC = web.AppKey("dnc", DncCache)
DNC_LIST = web.AppKey("dnc_list", DncList)
CALL_EVENTS = web.AppKey("call_events", CallEvents)
CALLS = web.AppKey("calls", Calls)
CDRS = web.AppKey("cdrs", Cdrs)
POLICIES = web.AppKey("policies", Policies)
DISPUTES = web.AppKey("disputes", Disputes)
RETURN_VISITS = web.AppKey("return_visits", ReturnVisits)
RECORDINGS = web.AppKey("recordings", Recordings)
REVIEW = web.AppKey("review", Review)
JOBS = web.AppKey("jobs", JobScheduler)
SCRUBBER = web.AppKey("scrubber", Scrubber)
SCRUB_JOBS = web.AppKey("scrub_jobs", ScrubJobs)
CHECKER = web.AppKey("checker", PreCallChecker)
SIMULATIONS = web.AppKey("simulations", Simulations)


class Clock(Protocol):
    def __call__(self) -> datetime: ...


CLOCK = web.AppKey("clock", Clock)
