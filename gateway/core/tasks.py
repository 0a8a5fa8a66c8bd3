"""Stopping background loops reliably.

A loop is stopped by cancelling its task. On Python 3.11 a cancellation can be lost on
the way in: `asyncio.wait_for` (used inside asyncpg and redis-py) returns the awaited
result when it completes at the same moment as the cancellation, and a library may turn
the CancelledError into its own error, which a loop that outlives errors catches. The
task then keeps running and whoever awaits its end waits forever. The task still
counts the request (`Task.cancelling()`), so loops call `raise_if_stopping()` once per
round and stop there.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


def raise_if_stopping() -> None:
    """Raise CancelledError when the running task was asked to stop."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel background tasks and wait for them to end."""
    running = [t for t in tasks if t is not None]
    for task in running:
        task.cancel()
    for task in running:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def abandon(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel the helper tasks of an operation that is failing and wait for them,
    whatever they raise: the operation's own error is the one to report."""
    for task in tasks:
        if task is not None:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
