"""Numbers masked for the roles that may not see them in full (the auditor), in every
answer: each JSON answer, errors included, is masked on its way out by the middleware,
and a CSV export is masked row by row as it streams (MaskedCsv). Masking happens on
output only: nothing stored changes, so the audit log's hash chain still verifies."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Coroutine
from typing import Any

import msgspec
from aiohttp import web

from gateway.api.routing import PRINCIPAL
from gateway.appkeys import REGISTRIES
from gateway.policy.masking import NumberMask
from gateway.policy.numbers import dedicated_caller_id
from gateway.services.auth import FULL_NUMBER_ROLES

Write = Callable[[bytes], Coroutine[Any, Any, None]]
_encoder = msgspec.json.Encoder()


def number_mask(request: web.Request) -> NumberMask | None:
    """The mask for this request's role, or None when the role sees numbers in full."""
    who = request.get(PRINCIPAL)
    if who is None or who.role in FULL_NUMBER_ROLES:
        return None
    registries = request.app.get(REGISTRIES)
    # The company's registered caller ids are its own published numbers: shown in full;
    # but not a mobile registered before mobiles were refused, which is someone's own.
    company = (
        frozenset(k for k in registries.current.caller_ids if dedicated_caller_id(k)[1] is None)
        if registries is not None
        else frozenset()
    )
    return NumberMask(company)


def mask_answer(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """The answer with its numbers masked, when the role needs that and it is JSON."""
    who = request.get(PRINCIPAL)
    if who is None or who.role in FULL_NUMBER_ROLES:
        return response  # the dialer's checks pay for nothing more
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return response
    mask = number_mask(request)
    body = response.body
    if mask is None or not isinstance(body, bytes) or not body:
        return response
    response.body = _encoder.encode(mask.value(msgspec.json.decode(body)))
    return response


class MaskedCsv:
    """Rewrites a CSV byte stream whose first line is its header, with the numbers of
    every record masked, each cell read under its column's name. Records may arrive cut
    anywhere (a COPY's chunks); a quoted field may hold line breaks."""

    def __init__(self, write: Write, mask: NumberMask) -> None:
        self._write = write
        self._mask = mask
        self._header: list[str] | None = None
        self._pending = b""  # the start of a record not yet complete
        self._odd_quotes = False  # within a quoted field at the end of _pending

    async def write(self, chunk: bytes) -> None:
        lines = chunk.split(b"\n")
        complete_end = -1
        scanned = len(self._pending)
        data = self._pending + chunk
        position = scanned
        for line in lines[:-1]:
            position += len(line) + 1
            if line.count(b'"') % 2:
                self._odd_quotes = not self._odd_quotes
            if not self._odd_quotes:
                complete_end = position
        if lines[-1].count(b'"') % 2:
            self._odd_quotes = not self._odd_quotes
        if complete_end < 0:
            self._pending = data
            return
        self._pending = data[complete_end:]
        await self._records(data[:complete_end])

    async def close(self) -> None:
        """Write what is left (a last record without a line break)."""
        if self._pending:
            rest, self._pending = self._pending, b""
            await self._records(rest)

    async def _records(self, data: bytes) -> None:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for record in csv.reader(io.StringIO(data.decode("utf-8"), newline="")):
            if self._header is None:
                self._header = record
                writer.writerow(record)
            else:
                writer.writerow(self._mask.record(self._header, record))
        await self._write(out.getvalue().encode("utf-8"))
