"""Persistence images of signals and images: learned, and with compare=true exact too; one
input per request (`/v1/{signals,images}/pi`), or a whole batch as one .npy array
(`/v1/{signals,images}/pi:batch`).

The four routes come from one table, `ROUTES`: per modality, what its bodies hold (for the
OpenAPI schema). A request goes route -> `uploads` (body to array) -> the registry's model
-> its batcher (`prepare`, then a batched `forward`) -> its exact recipe when comparing ->
`responses` (JSON, .npy or PNG).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from pinet.modality import PLURALS, Modality, layout
from service.deps import ReadyRegistryDep, SettingsDep
from service.limits import check_rips_points
from service.metrics import MetricsDep
from service.responses import (
    NPY_MEDIA_TYPE,
    BatchFormat,
    Format,
    batch_response,
    pi_response,
)
from service.schemas import BatchPIResponse, ErrorBody, PIResponse, SignalRequest
from service.uploads import (
    NO_BATCH_COMPARE,
    read_batch_request,
    read_pi_request,
    recipe_input_shape,
)

router = APIRouter(tags=["persistence images"])


@dataclass(frozen=True)
class ModalityRoutes:
    """What the PI routes of one modality take, as their OpenAPI schema says it."""

    modality: Modality
    upload: str  # what the multipart 'file' of a single request may hold
    json_body: dict[str, Any] | None = None  # the JSON alternative to an upload, if any

    @property
    def path(self) -> str:
        return f"/{PLURALS[self.modality]}/pi"


ROUTES = (
    ModalityRoutes(
        "signal",
        upload=".npy (C, T) or .csv (T rows, C columns)",
        json_body=SignalRequest.model_json_schema(),
    ),
    ModalityRoutes(
        "image", upload="PNG / JPEG (grey: 1 channel, RGB: 3, alpha dropped) or .npy (C, H, W)"
    ),
)

FormatQuery = Annotated[
    Format,
    Query(
        description="'npy': the learned PIs (C, 50, 50) float32 as .npy bytes; 'png': a "
        "picture of them, one panel per channel, with compare=true the exact PIs below"
    ),
]
BatchFormatQuery = Annotated[
    BatchFormat,
    Query(description="'npy': the learned PIs (N, C, 50, 50) float32 as .npy bytes"),
]
# 400: a multipart body that does not parse (Starlette's form parser says why).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 413, 415, 422, 503)
}
FILE_FIELD = {"type": "string", "format": "binary"}
_MODEL = {"type": "string"}


def request_body(
    description: str, fields: dict[str, Any], json_schema: dict[str, Any] | None = None
) -> dict[str, Any]:
    """OpenAPI for a body that the route parses itself (multipart, and maybe JSON)."""
    content: dict[str, Any] = {
        "multipart/form-data": {
            "schema": {"type": "object", "properties": fields, "required": ["file"]}
        }
    }
    if json_schema is not None:
        content["application/json"] = {"schema": json_schema}
    return {"requestBody": {"required": True, "description": description, "content": content}}


def _single_route(spec: ModalityRoutes) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request,
        registry: ReadyRegistryDep,
        settings: SettingsDep,
        metrics: MetricsDep,
        format: FormatQuery = "json",
    ) -> Response:
        asked = await read_pi_request(request, spec.modality, settings, format)
        served = registry.pick(asked.model, spec.modality)
        if asked.compare:  # before any work; the input limits bound the other recipes' cost
            shape = recipe_input_shape(asked.x, spec.modality)
            check_rips_points(served.recipe, shape, settings, "compare=true")
        learned = await served.batcher.submit(asked.x)
        exact = await served.exact(asked.x) if asked.compare else None
        if exact is not None:
            metrics.observe_exact(served.card.name, exact.diagram_ms, exact.image_ms)
        largest = learned.largest_abs_input[None]
        notes = asked.notes + served.notes(asked.x.shape, largest, settings.far_value_z)
        return await pi_response(served, learned, exact, notes, format)

    return endpoint


def _batch_route(spec: ModalityRoutes) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request,
        registry: ReadyRegistryDep,
        settings: SettingsDep,
        format: BatchFormatQuery = "json",
    ) -> Response:
        asked = await read_batch_request(request, spec.modality, settings)
        served = registry.pick(asked.model, spec.modality)
        learned = await served.batcher.submit_batch(asked.x)
        notes = served.notes(asked.x.shape[1:], learned.largest_abs_input, settings.far_value_z)
        return batch_response(served, learned, notes, format)

    return endpoint


def _add_routes(spec: ModalityRoutes) -> None:
    """The single and the batch route of one modality."""
    kind, shape = spec.modality, layout(spec.modality)
    body = "JSON {signal: (C, T), model, compare}, or a" if spec.json_body else "A"
    router.add_api_route(
        spec.path,
        _single_route(spec),
        methods=["POST"],
        name=f"{kind}_pi",
        summary=f"Learned PIs of one {kind}",
        description=f"Learned PIs of {'a' if kind == 'signal' else 'an'} {kind} `{shape}`: "
        "one 50x50 image per channel; with compare=true the exact PIs of the model's recipe "
        "beside them.",
        response_model=PIResponse,
        responses={200: {"content": {NPY_MEDIA_TYPE: {}, "image/png": {}}}, **ERROR_RESPONSES},
        openapi_extra=request_body(
            f"{body} multipart 'file': {spec.upload}",
            {"file": FILE_FIELD, "model": _MODEL, "compare": {"type": "boolean", "default": False}},
            spec.json_body,
        ),
    )
    batched = layout(spec.modality, batched=True)
    router.add_api_route(
        f"{spec.path}:batch",
        _batch_route(spec),
        methods=["POST"],
        name=f"{kind}_pi_batch",
        summary=f"Learned PIs of a batch of {PLURALS[kind]}",
        description=f"Learned PIs of N {PLURALS[kind]} `{batched}` in one request, in the "
        "order sent.",
        response_model=BatchPIResponse,
        responses={200: {"content": {NPY_MEDIA_TYPE: {}}}, **ERROR_RESPONSES},
        openapi_extra=request_body(
            f"multipart 'file': one .npy array {batched} of N {PLURALS[kind]} of one size, at "
            f"most PINET_MAX_BATCH_ITEMS of them. {NO_BATCH_COMPARE}.",
            {"file": FILE_FIELD, "model": _MODEL},
        ),
    )


for modality_routes in ROUTES:
    _add_routes(modality_routes)
