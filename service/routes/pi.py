"""Persistence images of signals and images: learned, and with compare=true exact too; one
input per request, or a whole batch (`:batch`) as one .npy array."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

import numpy as np
import orjson
import torch
from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from pinet.checkpoint import ModelCard
from pinet.inference import check_against_card
from pinet.model_inputs import network_inputs
from service.batching import QueueFull
from service.deps import ReadyRegistryDep, SettingsDep, pick_model
from service.errors import InputError
from service.exact import ExactResult
from service.metrics import MetricsDep, ServiceMetrics
from service.registry import ModelRegistry, ServedModel
from service.render import pi_png
from service.schemas import (
    BatchPIResponse,
    BatchTiming,
    ErrorBody,
    ExactPI,
    ModelRef,
    PIResponse,
    RecipeInfo,
    SignalRequest,
    Timing,
)
from service.settings import Settings
from service.uploads import NPY_MAGIC, image_from_upload, signal_from_json, signal_from_upload

router = APIRouter(tags=["persistence images"])

Format = Annotated[
    Literal["json", "npy", "png"],
    Query(
        description="'npy': the learned PIs (C, 50, 50) float32 as .npy bytes; 'png': a "
        "picture of them, one panel per channel, with compare=true the exact PIs below"
    ),
]
BatchFormat = Annotated[
    Literal["json", "npy"],
    Query(description="'npy': the learned PIs (N, C, 50, 50) float32 as .npy bytes"),
]
# 400: a multipart body that does not parse (Starlette's form parser says why).
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 413, 415, 422, 503)
}
_NPY = {"application/octet-stream": {}}
_FILE = {"type": "string", "format": "binary"}
_MODEL = {"type": "string"}
_UPLOAD_FIELDS = {"file": _FILE, "model": _MODEL, "compare": {"type": "boolean", "default": False}}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
_NO_BATCH_COMPARE = (
    "compare is not offered for batches: exact PIs take up to seconds per input, far longer "
    "than the learned ones; send inputs to compare one at a time to the single route"
)


def _upload_body(
    description: str, fields: dict[str, Any], json_schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """OpenAPI for a body that the route parses itself (JSON and/or multipart)."""
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": fields, "required": ["file"]}
        }
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "description": description, "content": content}}


@router.post(
    "/signals/pi",
    response_model=PIResponse,
    responses={200: {"content": {**_NPY, "image/png": {}}}, **_ERRORS},
    openapi_extra=_upload_body(
        "JSON {signal: (C, T), model, compare}, or a multipart 'file': .npy (C, T) or "
        ".csv (T rows, C columns)",
        _UPLOAD_FIELDS,
        SignalRequest.model_json_schema(),
    ),
)
async def signal_pi(
    request: Request,
    registry: ReadyRegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    format: Format = "json",
) -> Any:
    """Learned PIs of a signal `(C, T)`: one 50x50 image per channel."""
    limit = settings.max_signal_length
    if _media_type(request) == "application/json":
        body = signal_from_json(await request.body(), limit)
        x = np.asarray(body.signal, dtype=np.float64)
        name, compare = body.model, body.compare
    else:
        what = "a .npy or .csv signal (or send JSON as application/json)"
        data, filename, name, compare = await _read_upload(request, what)
        x = signal_from_upload(data, filename, limit)
    served = pick_model(registry, name, "signal")
    return await _serve(
        served,
        x,
        compare=compare,
        notes=[],
        format=format,
        registry=registry,
        settings=settings,
        metrics=metrics,
    )


@router.post(
    "/images/pi",
    response_model=PIResponse,
    responses={200: {"content": {**_NPY, "image/png": {}}}, **_ERRORS},
    openapi_extra=_upload_body(
        "multipart 'file': PNG / JPEG (grey: 1 channel, RGB: 3, alpha dropped) or .npy (C, H, W)",
        _UPLOAD_FIELDS,
    ),
)
async def image_pi(
    request: Request,
    registry: ReadyRegistryDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    format: Format = "json",
) -> Any:
    """Learned PIs of an image `(C, H, W)`: one 50x50 image per channel."""
    data, filename, name, compare = await _read_upload(request, "a PNG, JPEG or .npy image")
    x, notes = image_from_upload(data, filename, settings.max_image_pixels)
    served = pick_model(registry, name, "image")
    return await _serve(
        served,
        x,
        compare=compare,
        notes=notes,
        format=format,
        registry=registry,
        settings=settings,
        metrics=metrics,
    )


@router.post(
    "/signals/pi:batch",
    response_model=BatchPIResponse,
    responses={200: {"content": _NPY}, **_ERRORS},
    openapi_extra=_upload_body(
        "multipart 'file': one .npy array (N, C, T) of N signals of one length, at most "
        f"PINET_MAX_BATCH_ITEMS of them. {_NO_BATCH_COMPARE}.",
        {"file": _FILE, "model": _MODEL},
    ),
)
async def signal_pi_batch(
    request: Request,
    registry: ReadyRegistryDep,
    settings: SettingsDep,
    format: BatchFormat = "json",
) -> Any:
    """Learned PIs of N signals `(N, C, T)` in one request, in the order sent."""
    data, filename, name = await _read_batch_upload(request, "a .npy signal batch (N, C, T)")
    x = signal_from_upload(data, filename, settings.max_signal_length)
    served = pick_model(registry, name, "signal")
    return await _serve_batch(served, x, format, settings)


@router.post(
    "/images/pi:batch",
    response_model=BatchPIResponse,
    responses={200: {"content": _NPY}, **_ERRORS},
    openapi_extra=_upload_body(
        "multipart 'file': one .npy array (N, C, H, W) of N images of one size (uint8, or "
        f"float in [0, 1]), at most PINET_MAX_BATCH_ITEMS of them. {_NO_BATCH_COMPARE}.",
        {"file": _FILE, "model": _MODEL},
    ),
)
async def image_pi_batch(
    request: Request,
    registry: ReadyRegistryDep,
    settings: SettingsDep,
    format: BatchFormat = "json",
) -> Any:
    """Learned PIs of N images `(N, C, H, W)` in one request, in the order sent."""
    data, filename, name = await _read_batch_upload(request, "a .npy image batch (N, C, H, W)")
    x, _ = image_from_upload(data, filename, settings.max_image_pixels)
    served = pick_model(registry, name, "image")
    return await _serve_batch(served, x, format, settings)


async def _serve(
    served: ServedModel,
    x: np.ndarray,
    *,
    compare: bool,
    notes: list[str],
    format: str,
    registry: ModelRegistry,
    settings: Settings,
    metrics: ServiceMetrics,
) -> Any:
    """Validate one raw input against the model, batch it, optionally compare with exact."""
    inputs = _network_inputs(served.card, x[None])[0]
    try:
        result = await served.batcher.submit(inputs)
        exact = await _exact(registry, served, x, metrics) if compare else None
    except QueueFull as error:
        raise _retry_later(error, settings) from None

    if format == "npy":
        return _npy_response(result.pi)
    if format == "png":
        title = f"model {served.card.name}, recipe {served.recipe.name}"
        exact_pi = None if exact is None else exact.pi
        picture = await run_in_threadpool(pi_png, result.pi, served.recipe.grid, exact_pi, title)
        return Response(picture, media_type="image/png")
    response = PIResponse(
        pi=[],  # written by _json_response
        shape=list(result.pi.shape),
        model=_model_ref(served),
        timing=Timing(
            pinet_ms=result.forward_ms, batch_size=result.batch_size, queue_ms=result.queue_ms
        ),
        notes=notes,
    )
    if exact is None:
        return _json_response(response, pi=result.pi)
    exact_ms = exact.diagram_ms + exact.image_ms
    response.exact = ExactPI(pi=[], diagram_ms=exact.diagram_ms, image_ms=exact.image_ms)
    response.speedup = exact_ms / max(result.forward_ms, 1e-6)
    response.mse = float(np.mean((result.pi - exact.pi) ** 2, dtype=np.float64))
    return _json_response(response, pi=result.pi, exact_pi=exact.pi)


async def _serve_batch(served: ServedModel, x: np.ndarray, format: str, settings: Settings) -> Any:
    """Validate a client's batch `(N, C, ...)` against the model and run it through the
    model's batcher: on its one inference thread, in passes of at most max_batch_size,
    between the passes of single requests and under the same queue limit."""
    _check_batch_shape(served.card, x, settings.max_batch_items)
    inputs = _network_inputs(served.card, x)
    try:
        result = await served.batcher.submit_batch(inputs)
    except QueueFull as error:
        raise _retry_later(error, settings) from None

    if format == "npy":
        return _npy_response(result.pis)
    response = BatchPIResponse(
        pis=[],  # written by _json_response
        shape=list(result.pis.shape),
        model=_model_ref(served),
        timing=BatchTiming(
            total_ms=result.total_ms,
            per_sample_ms=result.total_ms / len(result.pis),
            forward_passes=result.forward_passes,
        ),
    )
    return _json_response(response, pis=result.pis)


def _network_inputs(card: ModelCard, batch: np.ndarray) -> torch.Tensor:
    """A raw batch `(N, C, ...)` checked against the model card, as network inputs."""
    try:
        check_against_card(batch, card)
        return network_inputs(batch, card.modality)
    except ValueError as error:
        raise InputError(str(error)) from None


def _check_batch_shape(card: ModelCard, x: np.ndarray, max_items: int) -> None:
    """InputError unless `x` is one batch array `(N, C, ...)` of 1 to `max_items` inputs."""
    layout = "(N, C, T)" if card.modality == "signal" else "(N, C, H, W)"
    if x.ndim != len(card.input_shape) + 1:
        raise InputError(f"a {card.modality} batch is one array {layout}; got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"the batch is empty (shape {x.shape}); send at least one input")
    if x.shape[0] > max_items:
        raise InputError(
            f"batch has {x.shape[0]} inputs; this server accepts at most {max_items} per "
            "request (PINET_MAX_BATCH_ITEMS)",
            status_code=413,
        )


async def _exact(
    registry: ModelRegistry, served: ServedModel, x: np.ndarray, metrics: ServiceMetrics
) -> ExactResult:
    """The exact PIs of the model's recipe for one raw input, timed into the metrics."""
    exact = await registry.exact.compute(served.recipe, x)
    for stage, ms in (("diagram", exact.diagram_ms), ("image", exact.image_ms)):
        metrics.exact_seconds.labels(served.card.name, stage).observe(ms / 1000.0)
    return exact


def _retry_later(error: QueueFull, settings: Settings) -> HTTPException:
    retry = str(max(1, round(settings.retry_after_s)))
    return HTTPException(503, str(error), headers={"Retry-After": retry})


def _model_ref(served: ServedModel) -> ModelRef:
    recipe = RecipeInfo(name=served.recipe.name, params=served.recipe.params)
    return ModelRef(name=served.card.name, recipe=recipe)


def _json_response(
    body: BaseModel, *, exact_pi: np.ndarray | None = None, **pis: np.ndarray
) -> Response:
    """`body` as JSON with its empty PI lists filled: `pis` by field name, `exact_pi` as
    exact.pi.

    The arrays bypass pydantic: as lists of Python floats, 7,500 per (3, 50, 50) PI were
    converted, validated twice and serialised on the event loop for every request, which
    bounded a batching server's requests/s. orjson writes the float32 arrays directly, with
    the shortest digits that give back each float32.
    """
    content = body.model_dump(mode="json")
    content |= {name: np.ascontiguousarray(array) for name, array in pis.items()}
    if exact_pi is not None:
        content["exact"]["pi"] = np.ascontiguousarray(exact_pi)
    return Response(
        orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json"
    )


def _npy_response(pis: np.ndarray) -> Response:
    buffer = io.BytesIO()
    np.save(buffer, pis, allow_pickle=False)
    return Response(buffer.getvalue(), media_type="application/octet-stream")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_upload(request: Request, what: str) -> tuple[bytes, str, str | None, bool]:
    """The uploaded file's bytes and name, and the 'model' and 'compare' form fields."""
    if _media_type(request) != "multipart/form-data":
        raise InputError(
            f"unsupported content type {_media_type(request) or 'none'!r}; upload {what} "
            "as multipart/form-data in a file field 'file'",
            status_code=415,
        )
    async with request.form(max_files=1, max_fields=8) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InputError(f"no file field 'file' in the form; upload {what} as 'file'")
        data = await upload.read()
        filename = upload.filename or ""
        model = form.get("model")
        compare = form.get("compare", "false")
    if not isinstance(model, str | None) or not isinstance(compare, str):
        raise InputError("form fields 'model' and 'compare' must be text, not files")
    if compare.strip().lower() not in _TRUE | _FALSE:
        raise InputError(f"form field 'compare' is {compare!r}; send true or false")
    return data, filename, model or None, compare.strip().lower() in _TRUE


async def _read_batch_upload(request: Request, what: str) -> tuple[bytes, str, str | None]:
    """The uploaded .npy batch's bytes and name, and the 'model' form field."""
    data, filename, name, compare = await _read_upload(request, what)
    if compare:
        raise InputError(_NO_BATCH_COMPARE)
    if not data.startswith(NPY_MAGIC):
        raise InputError(
            f"cannot read {filename or 'the upload'!r} as a batch: send {what} written with "
            "numpy.save",
            status_code=415,
        )
    return data, filename, name
