"""Every error leaves the service as JSON `{"detail": "..."}` with a message to act on."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from pinet.io import plain
from pinet.validation import describe_validation_error

# nginx's "client closed request": what a request whose client left before sending all of it
# is counted as. Nobody reads the answer; it is not a server error.
CLIENT_CLOSED_REQUEST = 499
# How /readyz's 503 begins when the models failed to load: it will never be ready.
LOADING_FAILED = "loading models failed"

log = logging.getLogger("service")


class InputError(Exception):
    """A request the service cannot serve as sent: 422 unless a limit (413), the media type
    (415) or an unknown model (404) is the problem."""

    def __init__(self, detail: str, status_code: int = 422) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status_code = status_code


class QueueFull(Exception):
    """Too much work is waiting already (a model's batcher, the exact pool): 503, to be
    retried after the server's `retry_after_s`."""


def error_response(
    status_code: int, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The JSON answer of an error: `{"detail": ...}`, never with the memory address of an
    internal object in it."""
    return JSONResponse({"detail": plain(detail)}, status_code=status_code, headers=headers)


def retry_after(request: Request) -> dict[str, str]:
    """The Retry-After header of a 503 from this app, in whole seconds (at least 1)."""
    return {"Retry-After": str(max(1, round(request.app.state.settings.retry_after_s)))}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(InputError)
    async def _input_error(request: Request, error: InputError) -> JSONResponse:
        return error_response(error.status_code, error.detail)

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, error: QueueFull) -> JSONResponse:
        return error_response(503, str(error), retry_after(request))

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), error.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, describe_validation_error(list(error.errors())))

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, error: ClientDisconnect) -> Response:
        log.info("client left %s %s before sending its body", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal server error; the server log has the details")
