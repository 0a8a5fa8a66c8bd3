"""Every scheduled job the gateway knows."""

from __future__ import annotations

from gateway.core.settings import SettingsError
from gateway.jobs.call_jobs import MISSED_RECORDINGS, RECONCILIATION
from gateway.jobs.dnc_jobs import DNC_CACHE_CHECK, DNC_EXPIRY
from gateway.jobs.housekeeping import SCRUB_CLEANUP
from gateway.jobs.integrity import INTEGRITY
from gateway.jobs.report import DAILY_REPORT
from gateway.jobs.retention_jobs import RETENTION
from gateway.jobs.runner import JobSpec
from gateway.jobs.schedule import trigger

JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        DNC_EXPIRY,
        DNC_CACHE_CHECK,
        RETENTION,
        INTEGRITY,
        MISSED_RECORDINGS,
        RECONCILIATION,
        DAILY_REPORT,
        SCRUB_CLEANUP,
    )
}


def check_schedules(schedules: dict[str, str]) -> None:
    """Refuse settings that name an unknown job or an unreadable crontab expression."""
    for name, cron in schedules.items():
        if name not in JOBS:
            raise SettingsError(f"schedules: unknown job {name!r} (jobs: {', '.join(JOBS)})")
        try:
            trigger(cron)
        except ValueError as e:
            raise SettingsError(
                f"schedules.{name}: {cron!r} is not a crontab expression: {e}"
            ) from e


def schedule_of(spec: JobSpec, overrides: dict[str, str]) -> str:
    return overrides.get(spec.name, spec.cron)
