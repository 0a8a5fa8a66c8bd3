"""Schedule math, pure: which scheduled time a firing belongs to."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from apscheduler.triggers.cron import CronTrigger

# Jobs fire at most once a minute; a firing belongs to the latest fire time within this.
_WINDOW: Final = timedelta(seconds=59)
TIMEZONE: Final = "Asia/Shanghai"


def trigger(cron: str) -> CronTrigger:
    """A five-field crontab expression in Beijing time."""
    parsed: CronTrigger = CronTrigger.from_crontab(cron, timezone=TIMEZONE)
    return parsed


def scheduled_time(cron: str, fired_at: datetime) -> datetime:
    """The fire time a run started at `fired_at` is for: the latest one not after it
    (within a minute), else `fired_at` itself truncated to the second."""
    found = trigger(cron).get_next_fire_time(None, fired_at - _WINDOW)
    if found is not None and found <= fired_at:
        moment: datetime = found
        return moment
    return fired_at.replace(microsecond=0)


def next_time(cron: str, after: datetime) -> datetime | None:
    found: datetime | None = trigger(cron).get_next_fire_time(None, after)
    return found
