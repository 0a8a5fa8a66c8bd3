"""Connections that a slow client cannot hold: a request's headers must be complete within
a time limit (aiohttp has none of its own), and an idle keep-alive connection is closed.
What aiohttp answers on its own (a request it cannot parse) is the JSON error envelope, in
words of the gateway's that never repeat what the client sent.

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
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentLengthError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest


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

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse or serve (a plain-text one),
        as the JSON envelope."""
        if request.writer.output_size > 0:
            raise ConnectionError("an answer was being sent: no error answer can follow")
        code, text, text_zh = _unparsed(status, exc)
        if status >= 500:
            self.log_exception("error handling a request", exc_info=exc)
        else:  # the parser's own message would quote the request's bytes: not logged
            self.log_debug("unparsable request: %s", text)
        body = {"error": {"code": code, "message": text, "message_zh": text_zh}}
        answer = web.Response(
            body=msgspec.json.encode(body), status=status, content_type="application/json"
        )
        answer.force_close()
        return answer

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


# What the request line or headers broke, by aiohttp's exception: fixed words, since the
# parser's own message quotes the bytes it could not parse (a header's value among them).
_PARSE_ERRORS: tuple[tuple[type[BaseException], str, str], ...] = (
    (LineTooLong, "the request line or a header is too long", "请求行或请求头过长"),
    (BadHttpMethod, "the request method is not valid", "请求方法无效"),
    (BadStatusLine, "the request line is not valid HTTP/1.1", "请求行不是有效的 HTTP/1.1"),
    (InvalidURLError, "the request target is not a valid URL", "请求地址不是有效的 URL"),
    (
        ContentLengthError,
        "the body does not match its Content-Length",
        "请求体与 Content-Length 不符",
    ),
    (TransferEncodingError, "the body's chunked encoding is not valid", "请求体的分块编码无效"),
    (InvalidHeader, "a header is not valid", "请求头无效"),
)


def _unparsed(status: int, exc: BaseException | None) -> tuple[str, str, str]:
    """(code, message, message_zh) of an answer aiohttp makes itself."""
    if status >= 500:
        if status == 504:
            return "unavailable", "the request took too long; try again", "请求处理超时，请重试"
        return "internal", "internal error; the request id is in the logs", "内部错误"
    for kind, text, text_zh in _PARSE_ERRORS:
        if isinstance(exc, kind):
            return "invalid_request", text, text_zh
    reason = str(getattr(exc, "message", "") or "")
    if "content-length" in reason.lower():
        return (
            "invalid_request",
            "the Content-Length header is not valid",
            "Content-Length 请求头无效",
        )
    text = "the request is not valid HTTP/1.1"
    # llhttp's reason ("Invalid header value char") comes before the bytes it quotes.
    why, quoted, _ = reason.partition(":\n\n")
    if quoted and why.isascii() and why.isprintable() and len(why) <= 80:
        text = f"{text}: {why}"
    return "invalid_request", text, "请求不是有效的 HTTP/1.1"
