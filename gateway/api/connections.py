"""Connections that a slow client cannot hold: a request's headers must be complete within
a time limit (aiohttp has none of its own), and an idle keep-alive connection is closed.

`GatewayRunner` is an `AppRunner` whose connections are `_Connection`s: aiohttp's
`RequestHandler` with a header deadline. The deadline starts when the connection is
accepted, and again at the first byte of each later request; it ends when the parser
yields the request (its headers are complete). A request's body is not covered here: the
handlers that read it limit that (`gateway.api.routing`)."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler


class GatewayRunner(web.AppRunner):
    """An `AppRunner` whose connections have a header deadline (`header_timeout`) and
    close when idle for `keepalive_timeout` seconds."""

    __slots__ = ("_header_timeout",)

    def __init__(
        self,
        app: web.Application,
        *,
        header_timeout: float,
        keepalive_timeout: float,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, keepalive_timeout=keepalive_timeout, **kwargs)
        self._header_timeout = header_timeout

    def wait_at_shutdown(self, seconds: float) -> None:
        """How long `cleanup()` waits for the requests still running to finish before it
        cancels them (the `shutdown_timeout` given at the start). Waiting for them to end
        once cancelled can take as long again. At least a moment: aiohttp takes 0 for no
        limit at all."""
        self._shutdown_timeout = max(seconds, 0.1)

    async def _make_server(self) -> web.Server:
        return _Server(await super()._make_server(), self._header_timeout)


class _Server(web.Server):
    """The application's server, making `_Connection`s."""

    def __init__(self, base: web.Server, header_timeout: float) -> None:
        super().__init__(
            base.request_handler,
            request_factory=base.request_factory,
            handler_cancellation=base.handler_cancellation,
            loop=base._loop,
            **base._kwargs,
        )
        self.header_timeout = header_timeout

    def __call__(self) -> RequestHandler:
        return _Connection(self, loop=self._loop, **self._kwargs)


class _Connection(RequestHandler):
    """A `RequestHandler` that closes the connection when a request's headers are not
    complete `header_timeout` seconds after the connection was accepted or the request's
    first byte came.

    One timer per connection, as aiohttp's keep-alive timer: it is not cancelled when a
    request's headers complete (most requests), only found with no deadline when it
    fires, or moved to a later one."""

    __slots__ = ("_body", "_header_deadline", "_header_sent", "_header_timeout", "_header_timer")

    def __init__(self, manager: _Server, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self._header_timeout = manager.header_timeout
        # When the request now arriving must have its headers complete; None while no
        # request is arriving (idle, or a request being read or answered).
        self._header_deadline: float | None = None
        self._header_timer: asyncio.TimerHandle | None = None
        # Whether any byte of the request now arriving came (else the client sent nothing).
        self._header_sent = False
        # The body of the last request whose headers came: until it is complete, the bytes
        # arriving are its body, not the next request's headers.
        self._body: StreamReader | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._start_header_deadline(sent=False)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._header_deadline = None
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if (
            data
            and (self._body is None or self._body.is_eof())
            and self._payload_parser is None
            and not self._upgraded
        ):
            # Bytes of a request's headers: its first ones start the deadline.
            if self._header_deadline is None:
                self._start_header_deadline(sent=True)
            else:
                self._header_sent = True
        parsed = self._request_count
        super().data_received(data)
        if self._request_count != parsed:
            # The parser yielded one or more requests: their headers are complete. Bytes
            # of a further request that came in the same read start no deadline here;
            # the keep-alive timeout still bounds a connection waiting on them.
            self._header_deadline = None
            self._header_sent = False
            self._body = self._messages[-1][1] if self._messages else None

    def _start_header_deadline(self, *, sent: bool) -> None:
        loop = self._loop
        self._header_deadline = loop.time() + self._header_timeout
        self._header_sent = sent
        if self._header_timer is None:
            self._header_timer = loop.call_at(self._header_deadline, self._header_time_up)

    def _header_time_up(self) -> None:
        self._header_timer = None
        deadline = self._header_deadline
        if deadline is None or self.transport is None or self._force_close:
            return
        if self._loop.time() < deadline:  # a later request's deadline
            self._header_timer = self._loop.call_at(deadline, self._header_time_up)
            return
        self._header_deadline = None
        if self._request_in_progress or self._messages:
            # A pipelined request is late while an earlier one is answered: close the
            # connection once that answer is sent.
            self.close()
            return
        if self._header_sent:
            self.transport.write(_late_headers_answer(self._header_timeout))
        self.force_close()


def _late_headers_answer(timeout: float) -> bytes:
    body = msgspec.json.encode(
        {
            "error": {
                "code": "request_timeout",
                "message": f"the request's headers were not complete within {timeout:g} s",
                "message_zh": f"请求发送超时：请求头未在 {timeout:g} 秒内发送完整",
            }
        }
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body
