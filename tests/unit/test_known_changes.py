"""Which do-not-call changes a process requires its checks to find in Redis."""

from __future__ import annotations

import asyncio

import pytest

from gateway.store import dnc_changes
from gateway.store.dnc_changes import UNKNOWN, KnownChanges, cache_line


def listening(seq: int = 0) -> KnownChanges:
    known = KnownChanges()
    known.reset(seq)
    return known


def test_nothing_is_known_until_the_process_listens() -> None:
    known = KnownChanges()
    assert known.required() == UNKNOWN
    known.reset(7)
    assert known.required() == 7


def test_a_lost_listener_makes_every_check_require_what_no_cache_has() -> None:
    known = listening(3)
    known.lost()
    assert known.required() == UNKNOWN
    known.reset(5)  # reconnected: everything PostgreSQL has, at once
    assert known.required() == 5


def test_an_unapplied_announcement_is_required_at_once() -> None:
    known = listening(1)
    known.heard("4 unapplied")
    assert known.required() == 4
    assert known.latest == 4


def test_an_ordinary_announcement_is_required_only_after_its_process_had_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr(dnc_changes.time, "monotonic", lambda: now[0])
    known = listening(1)
    known.heard("2")
    assert known.latest == 2
    assert known.required() == 1
    now[0] += dnc_changes.REQUIRED_AFTER_SECONDS
    assert known.required() == 2


def test_a_change_this_process_could_not_apply_is_required_at_once() -> None:
    known = listening(1)
    known.must_have(9)
    assert known.required() == 9


def test_required_never_goes_back() -> None:
    known = listening(10)
    known.heard("3 unapplied")
    known.reset(4)
    known.must_have(2)
    assert known.required() == 10


def test_a_malformed_announcement_is_ignored() -> None:
    known = listening(1)
    known.heard("not a number")
    assert known.required() == 1 and known.latest == 1


async def test_an_announcement_coming_back_wakes_its_sender() -> None:
    known = listening(1)
    waiting = asyncio.create_task(known.echoed(5))
    await asyncio.sleep(0)
    known.heard("5")  # the commit's own announcement is not the echo
    await asyncio.sleep(0)
    assert not waiting.done()
    known.heard("5 unapplied")
    await asyncio.wait_for(waiting, 1)


def test_cache_lines_are_what_the_scripts_read() -> None:
    assert cache_line("+8613812345678", "all") == "8613812345678 a\n"
    assert cache_line("+8613812345678", None) == "8613812345678 \n"
