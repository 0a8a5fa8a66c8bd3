"""Background loops stop even when a library swallows their cancellation."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.core.tasks import raise_if_stopping, stop


async def swallowing_call() -> None:
    """What asyncio.wait_for does on Python 3.11 when the awaited result arrives with
    the cancellation: the CancelledError goes no further."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(3600)


async def slow_round() -> None:
    """A round of work that swallows a cancellation once, as a library call might."""
    task = asyncio.current_task()
    assert task is not None
    if not task.cancelling():
        await swallowing_call()


async def test_a_loop_that_checks_stops_after_a_swallowed_cancellation() -> None:
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while True:
            raise_if_stopping()
            rounds += 1
            await slow_round()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(stop(task), timeout=5)
    assert task.cancelled()
    assert rounds == 1


async def test_a_loop_that_does_not_check_would_run_on() -> None:
    """The failure the check exists for: without it the same loop outlives its stop."""

    async def loop() -> None:
        while True:
            await slow_round()
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.sleep(0.1)
    assert not task.done()
    assert task.cancelling() == 1
    task.cancel()  # the sleep between rounds takes this one
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)


async def test_stop_accepts_no_task() -> None:
    await stop(None)
