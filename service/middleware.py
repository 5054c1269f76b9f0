"""ASGI middleware of the app that guards what reaches the routes: the API key for every
/v1 path, the body size, the time budgets, and CORS answered in JSON."""

from __future__ import annotations

import asyncio
import secrets

from pydantic import SecretStr
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response

API_KEY_HEADER = "X-API-Key"


class TrackedSend:
    """`send`, noting whether an answer has begun: once it has, an error can no longer be
    answered with a status of its own."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        self.started = self.started or message["type"] == "http.response.start"
        await self._send(message)


class BodyTooLarge(Exception):
    """Raised inside the app's receive() when a streamed body passes the limit."""


class BodySizeLimit:
    """413 for a request body over `max_bytes`: at once from its Content-Length, or as soon
    as a streamed (chunked) body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> str:
        return (
            f"request body is larger than this server's limit of {self.max_bytes} bytes "
            "(PINET_MAX_BODY_BYTES)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await error_response(413, self._too_large())(scope, receive, send)
            return

        received = 0
        tracked = TrackedSend(send)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, tracked)
        except BodyTooLarge:
            if not tracked.started:
                await error_response(413, self._too_large())(scope, receive, send)


class BodyTimedOut(Exception):
    """Raised inside the app's receive() when the body is late."""


class Deadlines:
    """The time budget of a request: its body must arrive within `body_timeout_s` (else
    408, and the connection is closed), its answer must start within `request_timeout_s` of
    its arrival (else 503 with Retry-After). Work still waiting for a forward pass is
    dropped; a pass already running finishes, bounded by the cost model."""

    def __init__(
        self,
        app: ASGIApp,
        body_timeout_s: float,
        request_timeout_s: float,
        retry_after_s: float,
    ) -> None:
        self.app = app
        self.body_timeout_s = body_timeout_s
        self.request_timeout_s = request_timeout_s
        self.retry_after = str(max(1, round(retry_after_s)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        body_deadline = loop.time() + self.body_timeout_s
        body_done = False
        tracked = TrackedSend(send)

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # after the body, receive() only waits for a disconnect
                return await receive()
            try:
                async with asyncio.timeout_at(body_deadline):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut from None
            body_done = message["type"] != "http.request" or not message.get("more_body")
            return message

        try:
            async with asyncio.timeout(self.request_timeout_s):
                await self.app(scope, timed_receive, tracked)
        except BodyTimedOut:
            if not tracked.started:
                detail = (
                    f"the request body did not arrive within {self.body_timeout_s:g} s "
                    "(PINET_BODY_TIMEOUT_S)"
                )
                await error_response(408, detail, {"Connection": "close"})(scope, receive, send)
        except TimeoutError:
            if not tracked.started:
                detail = (
                    f"the request did not finish within {self.request_timeout_s:g} s "
                    "(PINET_REQUEST_TIMEOUT_S); retry later or send a smaller input"
                )
                headers = {"Retry-After": self.retry_after}
                await error_response(503, detail, headers)(scope, receive, send)


class ApiKeyGate:
    """With an API key set, every request under `prefix` needs it in the X-API-Key header:
    401 otherwise, before anything else about the request is looked at, so that unknown
    paths answer as the known ones do and reveal nothing of what exists."""

    def __init__(self, app: ASGIApp, api_key: SecretStr, prefix: str = "/v1") -> None:
        self.app = app
        self.expected = api_key.get_secret_value().encode()
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        guarded = scope["type"] == "http" and (
            path == self.prefix or path.startswith(self.prefix + "/")
        )
        if guarded:
            given = Headers(scope=scope).get(API_KEY_HEADER)
            if given is None or not secrets.compare_digest(given.encode(), self.expected):
                what = "is missing" if given is None else "is wrong"
                detail = f"the {API_KEY_HEADER} header {what}; this server needs an API key"
                await error_response(401, detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class JSONCORSMiddleware(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight answered in JSON like every
    other error of the service."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code != 400:
            return response
        headers = {
            name: value
            for name, value in response.headers.items()
            if name not in ("content-type", "content-length")
        }
        detail = (
            f"CORS preflight refused: {bytes(response.body).decode()}; the allowed origins are "
            "this server's PINET_CORS_ORIGINS"
        )
        return error_response(400, detail, headers)
