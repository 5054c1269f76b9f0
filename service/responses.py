"""PI responses in the format a client asked for: JSON, .npy bytes or a PNG picture.

JSON bodies are pydantic models whose PI fields hold the float32 arrays themselves: orjson
writes them straight from memory, with the shortest digits that give back each float32. As
lists of Python floats, 7,500 per (3, 50, 50) PI were converted, validated twice and
serialised on the event loop for every request, which bounded a batching server's
requests/s.
"""

from __future__ import annotations

import io
from typing import Literal

import numpy as np
import orjson
from fastapi import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from service.render import pi_png
from service.schemas import (
    BatchPIResponse,
    BatchTiming,
    ExactPI,
    PIResponse,
    Timing,
)
from service.serving.batching import BatchResult, BulkResult
from service.serving.exact import ExactResult
from service.serving.registry import ServedModel

Format = Literal["json", "npy", "png"]
BatchFormat = Literal["json", "npy"]
NPY_MEDIA_TYPE = "application/octet-stream"


async def pi_response(
    served: ServedModel,
    learned: BatchResult,
    exact: ExactResult | None,
    notes: list[str],
    format: Format,
) -> Response:
    """One input's learned PIs (and exact ones with compare=true) as `format`."""
    if format == "npy":
        return npy_response(learned.pi)
    if format == "png":
        title = f"model {served.card.name}, recipe {served.recipe.name}"
        exact_pi = None if exact is None else exact.pi
        picture = await run_in_threadpool(pi_png, learned.pi, served.recipe.grid, exact_pi, title)
        return Response(picture, media_type="image/png")
    body = PIResponse(
        pi=learned.pi,
        shape=list(learned.pi.shape),
        model=served.reference,
        timing=Timing(
            pinet_ms=learned.forward_ms, batch_size=learned.batch_size, queue_ms=learned.queue_ms
        ),
        notes=notes,
    )
    if exact is not None:
        body.exact = ExactPI(pi=exact.pi, diagram_ms=exact.diagram_ms, image_ms=exact.image_ms)
        body.speedup = exact.total_ms / max(learned.forward_ms, 1e-6)
        body.mse = float(np.mean((learned.pi - exact.pi) ** 2, dtype=np.float64))
    return json_response(body)


def batch_response(
    served: ServedModel, learned: BulkResult, notes: list[str], format: BatchFormat
) -> Response:
    """A client batch's learned PIs as `format`."""
    if format == "npy":
        return npy_response(learned.pis)
    body = BatchPIResponse(
        pis=learned.pis,
        shape=list(learned.pis.shape),
        model=served.reference,
        timing=BatchTiming(
            total_ms=learned.total_ms,
            per_sample_ms=learned.total_ms / len(learned.pis),
            forward_passes=learned.forward_passes,
        ),
        notes=notes,
    )
    return json_response(body)


def json_response(body: BaseModel) -> Response:
    """`body` as JSON, its numpy arrays written by orjson."""
    content = orjson.dumps(body.model_dump(), option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(content, media_type="application/json")


def npy_response(pis: np.ndarray) -> Response:
    buffer = io.BytesIO()
    np.save(buffer, pis, allow_pickle=False)
    return Response(buffer.getvalue(), media_type=NPY_MEDIA_TYPE)
