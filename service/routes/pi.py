"""Persistence images of signals and images: learned, and with compare=true exact too."""

from __future__ import annotations

import io
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, HTTPException, Query, Request, Response
from starlette.datastructures import UploadFile

from pinet.inference import check_against_card
from pinet.model_inputs import network_inputs
from service.batching import QueueFull
from service.deps import ReadyRegistryDep, SettingsDep, pick_model
from service.errors import InputError
from service.registry import ModelRegistry, ServedModel
from service.schemas import (
    ErrorBody,
    ExactPI,
    ModelRef,
    PIResponse,
    RecipeInfo,
    SignalRequest,
    Timing,
)
from service.uploads import image_from_upload, signal_from_json, signal_from_upload

router = APIRouter(tags=["persistence images"])

Format = Annotated[
    Literal["json", "npy"],
    Query(description="'npy': the learned PIs (C, 50, 50) float32 as .npy bytes"),
]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 404, 413, 415, 422, 503)
}
_UPLOAD_FIELDS = {
    "file": {"type": "string", "format": "binary"},
    "model": {"type": "string"},
    "compare": {"type": "boolean", "default": False},
}
_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}


def _upload_body(description: str, json_schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """OpenAPI for a body that the route parses itself (JSON and/or multipart)."""
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": _UPLOAD_FIELDS, "required": ["file"]}
        }
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "description": description, "content": content}}


@router.post(
    "/signals/pi",
    response_model=PIResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **_ERRORS},
    openapi_extra=_upload_body(
        "JSON {signal: (C, T), model, compare}, or a multipart 'file': .npy (C, T) or "
        ".csv (T rows, C columns)",
        SignalRequest.model_json_schema(),
    ),
)
async def signal_pi(
    request: Request, registry: ReadyRegistryDep, settings: SettingsDep, format: Format = "json"
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
    return await _serve(registry, served, x, compare, [], format, settings.retry_after_s)


@router.post(
    "/images/pi",
    response_model=PIResponse,
    responses={200: {"content": {"application/octet-stream": {}}}, **_ERRORS},
    openapi_extra=_upload_body(
        "multipart 'file': PNG / JPEG (grey: 1 channel, RGB: 3, alpha dropped) or .npy (C, H, W)"
    ),
)
async def image_pi(
    request: Request, registry: ReadyRegistryDep, settings: SettingsDep, format: Format = "json"
) -> Any:
    """Learned PIs of an image `(C, H, W)`: one 50x50 image per channel."""
    data, filename, name, compare = await _read_upload(request, "a PNG, JPEG or .npy image")
    x, notes = image_from_upload(data, filename, settings.max_image_pixels)
    served = pick_model(registry, name, "image")
    return await _serve(registry, served, x, compare, notes, format, settings.retry_after_s)


async def _serve(
    registry: ModelRegistry,
    served: ServedModel,
    x: np.ndarray,
    compare: bool,
    notes: list[str],
    format: str,
    retry_after_s: float,
) -> Any:
    """Validate one raw input against the model, batch it, optionally compare with exact."""
    card = served.card
    try:
        check_against_card(x[None], card)
        inputs = network_inputs(x[None], card.modality)[0]
    except ValueError as error:
        raise InputError(str(error)) from None
    try:
        result = await served.batcher.submit(inputs)
        exact = await registry.exact.compute(served.recipe, x) if compare else None
    except QueueFull as error:
        retry = str(max(1, round(retry_after_s)))
        raise HTTPException(503, str(error), headers={"Retry-After": retry}) from None

    if format == "npy":
        buffer = io.BytesIO()
        np.save(buffer, result.pi, allow_pickle=False)
        return Response(buffer.getvalue(), media_type="application/octet-stream")
    response = PIResponse(
        pi=result.pi.tolist(),
        shape=list(result.pi.shape),
        model=ModelRef(
            name=card.name, recipe=RecipeInfo(name=served.recipe.name, params=served.recipe.params)
        ),
        timing=Timing(
            pinet_ms=result.forward_ms, batch_size=result.batch_size, queue_ms=result.queue_ms
        ),
        notes=notes,
    )
    if exact is not None:
        exact_ms = exact.diagram_ms + exact.image_ms
        response.exact = ExactPI(
            pi=exact.pi.tolist(), diagram_ms=exact.diagram_ms, image_ms=exact.image_ms
        )
        response.speedup = exact_ms / max(result.forward_ms, 1e-6)
        response.mse = float(np.mean((result.pi - exact.pi) ** 2, dtype=np.float64))
    return response


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
