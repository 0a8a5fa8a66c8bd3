from __future__ import annotations

from datetime import datetime

import pytest

from gateway.core.settings import SettingsError
from gateway.jobs.catalog import check_schedules
from gateway.jobs.schedule import next_time, scheduled_time


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("cron", "fired", "scheduled"),
    [
        # hourly at :17 Beijing time, fired a little late
        ("17 * * * *", "2026-11-23T10:17:00.480+08:00", "2026-11-23T10:17:00+08:00"),
        ("17 * * * *", "2026-11-23T02:17:20+00:00", "2026-11-23T10:17:00+08:00"),
        # every minute
        ("* * * * *", "2026-11-23T10:05:00.002+08:00", "2026-11-23T10:05:00+08:00"),
        # nightly at 02:30 Beijing time
        ("30 2 * * *", "2026-11-23T02:30:01+08:00", "2026-11-23T02:30:00+08:00"),
        # a manual firing far from any fire time keeps its own second
        ("30 2 * * *", "2026-11-23T15:00:07.9+08:00", "2026-11-23T15:00:07+08:00"),
    ],
)
def test_a_firing_belongs_to_the_latest_fire_time(cron: str, fired: str, scheduled: str) -> None:
    assert scheduled_time(cron, at(fired)) == at(scheduled)


def test_next_fire_time_is_in_beijing_time() -> None:
    assert next_time("30 2 * * *", at("2026-11-23T03:00:00+08:00")) == at(
        "2026-11-24T02:30:00+08:00"
    )


def test_unknown_job_or_bad_crontab_in_settings_is_refused() -> None:
    check_schedules({"dnc-expiry": "*/5 * * * *"})
    with pytest.raises(SettingsError, match="unknown job"):
        check_schedules({"dnc-expirry": "* * * * *"})
    with pytest.raises(SettingsError, match="crontab"):
        check_schedules({"dnc-expiry": "every minute"})
