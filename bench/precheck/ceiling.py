"""The ceiling for the pre-call check benchmark: a bare aiohttp handler on the gateway's
event-loop setup (uvloop, the gateway's Redis client settings) that reads the JSON body,
makes one Redis script call -- the gateway's own precheck.lua, read-only ("peek"), against
the same do-not-call generation and attempt keys -- and answers.

No middleware, no authentication, no policy, no PostgreSQL: what is left of a check when
everything but one HTTP exchange and one Redis round trip is taken away.

    python bench/precheck/ceiling.py --port 18090 [--reuse-port] [--client pipe|redis-py]

--client pipe (the default) sends the script call the way the gateway does
(gateway.store.redis_pipe); --client redis-py through the redis-py client's own script
call (EVALSHA), as the gateway did before. Reads GATEWAY_REDIS_URL and
GATEWAY_REDIS_PREFIX like the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import sys
import time

import msgspec
import uvloop
from aiohttp import web

from gateway.store.keys import Keys
from gateway.store.redis import create_redis
from gateway.store.redis_pipe import RedisPipe
from gateway.store.scripts import lua

_DAY_MS = 86_400_000


class Body(msgspec.Struct):
    callee: str


def build_app(redis_url: str, prefix: str, client: str) -> web.Application:
    app = web.Application()
    keys = Keys(prefix)
    redis = create_redis(redis_url)
    source = lua("precheck.lua")
    sha = hashlib.sha1(source.encode()).hexdigest()
    script = redis.register_script(source)
    pipe = RedisPipe.for_client(redis)
    decode = msgspec.json.Decoder(Body).decode

    async def precheck(request: web.Request) -> web.StreamResponse:
        body = decode(await request.read())
        now_ms = int(time.time() * 1000)
        day_ms = now_ms - now_ms % _DAY_MS
        keys_and_args = (
            keys.dnc_current,
            keys.attempts(body.callee),
            "",
            "peek",
            body.callee.lstrip("+"),
            f"am 1 0 {now_ms} {day_ms} {day_ms - 6 * _DAY_MS} -1 -1 0 0",
            "",
            "",
            f"{prefix}dnc:",
            "",
        )
        if client == "pipe":
            raw = await pipe.send("EVALSHA", sha, 3, *keys_and_args)
        else:
            raw = await script(keys=keys_and_args[:3], args=keys_and_args[3:])
        return web.Response(body=b'{"facts":"' + raw + b'"}', content_type="application/json")

    async def healthz(request: web.Request) -> web.StreamResponse:
        return web.Response(text='{"status":"ok"}', content_type="application/json")

    async def load_script(app: web.Application) -> None:
        await redis.script_load(source)

    async def close_redis(app: web.Application) -> None:
        pipe.close()
        await redis.aclose()

    app.router.add_post("/v1/precheck", precheck)
    app.router.add_get("/healthz", healthz)
    app.on_startup.append(load_script)
    app.on_cleanup.append(close_redis)
    return app


async def serve(app: web.Application, host: str, port: int, reuse_port: bool) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
    await site.start()
    print(f"ceiling serving on {host}:{port}", file=sys.stderr, flush=True)
    try:
        await asyncio.Event().wait()  # until SIGTERM or SIGINT
    finally:
        await runner.cleanup()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--reuse-port", action="store_true")
    parser.add_argument("--client", choices=["pipe", "redis-py"], default="pipe")
    args = parser.parse_args()
    app = build_app(
        os.environ.get("GATEWAY_REDIS_URL", "redis://127.0.0.1:6379/0"),
        os.environ.get("GATEWAY_REDIS_PREFIX", "gw:"),
        args.client,
    )
    try:
        uvloop.run(serve(app, args.host, args.port, args.reuse_port))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
