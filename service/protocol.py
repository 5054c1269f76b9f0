"""The HTTP protocol `python -m service` runs: uvicorn's httptools protocol with guards on
what arrives before the app sees a request, which no ASGI middleware can see.

- The request line and headers must arrive within `header_timeout_s`, counted from the
  connection opening (a connection that sends nothing is closed then) or from the first byte
  of a later request on a kept-alive connection: else 408 and the connection is closed.
- They may take at most `max_header_bytes`: else 431 and the connection is closed.
Both answers are JSON `{"detail": ...}` like the app's. Between requests, an idle kept-alive
connection is closed after uvicorn's `timeout_keep_alive` (PINET_KEEP_ALIVE_S).
"""

from __future__ import annotations

import asyncio
import json

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

HEADERS_END = b"\r\n\r\n"


def guarded_protocol(settings: Settings) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn's `http=`, with `settings`' header limits."""
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {
            "header_timeout_s": settings.header_timeout_s,
            "max_header_bytes": settings.max_header_bytes,
        },
    )


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline and a header size limit."""

    header_timeout_s: float = 10.0
    max_header_bytes: int = 32 * 2**10

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._expect_headers()
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_headers:
            seen = self._tail + data
            end = seen.find(HEADERS_END)
            arrived = len(data) if end < 0 else end + len(HEADERS_END) - len(self._tail)
            self._header_bytes += arrived
            self._tail = seen[-(len(HEADERS_END) - 1) :]
            if self._header_bytes > self.max_header_bytes:
                self._refuse(
                    431,
                    f"the request headers exceed {self.max_header_bytes} bytes "
                    "(PINET_MAX_HEADER_BYTES)",
                )
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # a later request on a kept-alive connection
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._in_headers = False
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        # The request, body included, is parsed: what arrives next is the next request's.
        # (Not at the response's end: an early answer, a 413, comes before the body does.)
        self._expect_headers()

    def _expect_headers(self) -> None:
        self._in_headers = True
        self._header_bytes = 0
        self._tail = b""  # the last bytes seen, in case the blank line is split across reads

    def _arm_header_timer(self) -> None:
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        if self._header_bytes == 0:  # nothing asked: just close
            self.transport.close()
            return
        self._refuse(
            408,
            f"the request headers did not arrive within {self.header_timeout_s:g} s "
            "(PINET_HEADER_TIMEOUT_S)",
        )

    def _refuse(self, status: int, detail: str) -> None:
        """Answer `status` with a JSON body and close, before any request reached the app."""
        if self.transport.is_closing():
            return
        body = json.dumps({"detail": detail}).encode()
        reason = {408: b"Request Timeout", 431: b"Request Header Fields Too Large"}[status]
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"connection: close\r\n\r\n%s" % (status, reason, len(body), body)
        )
        self.transport.close()
