"""Serving with a graceful stop: on SIGTERM or SIGINT stop accepting connections, report
not ready, let every request in flight finish (uploads included), then close pools."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from typing import Any

from aiohttp import web

from gateway.api.connections import GatewayRunner
from gateway.api.middleware import IN_FLIGHT
from gateway.api.ops import metrics_view
from gateway.appkeys import SETTINGS
from gateway.core.settings import Settings

log = logging.getLogger("gateway.serve")


def make_runner(app: web.Application, settings: Settings, **kwargs: Any) -> GatewayRunner:
    """A runner whose connections have the settings' time limits: a slow client cannot
    hold one (`gateway.api.connections`)."""
    return GatewayRunner(
        app,
        header_timeout=settings.header_timeout_seconds,
        keepalive_timeout=settings.keepalive_timeout_seconds,
        access_log=None,
        handle_signals=False,
        **kwargs,
    )


async def _metrics_runner(settings: Settings, host: str, port: int) -> web.AppRunner:
    """This process's metrics alone on a port of its own: processes sharing the API's port
    (`--reuse-port`) answer /metrics there at random, so a scraper could not tell them
    apart or see each one."""
    app = web.Application()
    app.router.add_get("/metrics", metrics_view)
    runner = make_runner(app, settings)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


async def serve(
    app: web.Application,
    host: str,
    port: int,
    *,
    reuse_port: bool = False,
    metrics_port: int | None = None,
    grace: float = 25.0,
) -> None:
    settings = app[SETTINGS]
    runner = make_runner(app, settings, shutdown_timeout=grace)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    metrics = None if metrics_port is None else await _metrics_runner(settings, host, metrics_port)
    # Everything loaded at start (modules, phonenumbers' tables, the registry snapshot)
    # lives as long as the process: take it out of the cyclic collector's way, or every
    # full collection walks it all (40-50 ms pauses under load, waited out by every check
    # in flight). Objects made later are collected as before.
    gc.freeze()
    log.info(
        "serving", extra={"fields": {"host": host, "port": port, "metrics_port": metrics_port}}
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    deadline = None
    try:
        await stop.wait()
        deadline = loop.time() + grace
        in_flight = app[IN_FLIGHT]
        in_flight.draining = True
        log.info(
            "stopping: no new connections; finishing requests in flight",
            extra={"fields": {"in_flight": in_flight.count}},
        )
        await site.stop()
        try:
            await asyncio.wait_for(in_flight.idle.wait(), grace)
        except TimeoutError:
            log.warning(
                "grace period over; cutting off requests",
                extra={"fields": {"in_flight": in_flight.count}},
            )
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        # What still runs at the end of the grace period is cut off then, not given
        # another grace period by the runner's own shutdown.
        runner.wait_at_shutdown(grace if deadline is None else deadline - loop.time())
        await runner.cleanup()
        if metrics is not None:
            await metrics.cleanup()
        log.info("stopped")
