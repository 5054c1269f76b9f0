"""Exact topology over the API: the recipes (`GET /v1/recipes`), and the exact diagrams and
PIs of one input by any recipe of its modality (`POST /v1/{signals,images}/topology`).

The topology routes take the PI routes' inputs, read by `uploads` within the cost model of
`limits`, plus `recipe` (a name) and `params` (a JSON object). Exact topology can cost far
more than a forward pass, so each recipe also has a cap on what one input may make it do
(`check_topology_cost`), and the work runs in the exact pool, off the event loop, within the
pool's bound and the request's time budget.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np
import orjson
from fastapi import APIRouter, Request, Response

from pinet.modality import PLURALS, Modality, layout
from pinet.tda import RECIPES, RELEASED_RECIPES, Recipe, recipe_from_json
from pinet.tda.recipes import SignalTakens
from pinet.tda.recipes.takens import FEWEST_POINTS_FOR_H1
from service.deps import ReadyRegistryDep, SettingsDep
from service.errors import InputError
from service.limits import check_topology_cost, input_limits
from service.metrics import MetricsDep
from service.responses import json_response
from service.routes.pi import ERROR_RESPONSES, FILE_FIELD, request_body
from service.routes.pi import ROUTES as PI_ROUTES
from service.schemas import (
    RecipeInfo,
    RecipeList,
    RecipeSpec,
    SignalTopologyRequest,
    TopologyResponse,
    TopologyTiming,
)
from service.settings import Settings
from service.uploads import media_type, read_pi_request, recipe_input_shape, signal_from_json

router = APIRouter(tags=["exact topology"])


@router.get(
    "/recipes",
    response_model=RecipeList,
    summary="The exact recipes",
    description="Every recipe the topology routes take: its modality, its parameters at "
    "their defaults, and the homology dimensions its diagrams hold.",
)
async def list_recipes() -> RecipeList:
    specs = []
    for name, recipe_class in RECIPES.items():
        default = recipe_class()
        specs.append(
            RecipeSpec(
                name=name,
                modality=recipe_class.modality,
                params=default.params,
                homology_dimensions=list(default.homology_dimensions),
            )
        )
    return RecipeList(recipes=specs)


@dataclass(frozen=True)
class TopologyRequest:
    """One raw input, the recipe to apply to it, and notes on how the input was adapted."""

    x: np.ndarray
    recipe: Recipe
    notes: list[str]


async def read_topology_request(
    request: Request, modality: Modality, settings: Settings
) -> TopologyRequest:
    """A JSON signal `{signal, recipe, params}`, or the PI routes' multipart upload with the
    form fields 'recipe' and 'params' (JSON text), its input within the cost model of the
    PI routes and of its recipe."""
    if modality == "signal" and media_type(request) == "application/json":
        limits = input_limits(settings, modality, batch=False)
        body = signal_from_json(await request.body(), limits, SignalTopologyRequest)
        x = np.asarray(body.signal, dtype=np.float64)
        name, params, notes = body.recipe, body.params, []
    else:
        asked = await read_pi_request(request, modality, settings, "json")
        form = await request.form()  # the form read_pi_request parsed, kept by Starlette
        if "model" in form or "compare" in form:
            raise InputError("'model' and 'compare' are the PI routes' fields; send 'recipe'")
        name, params = _form_text(form.get("recipe"), "recipe"), _form_params(form.get("params"))
        x, notes = asked.x, asked.notes
    recipe = _recipe(name or RELEASED_RECIPES[modality], params, modality)
    shape = recipe_input_shape(x, modality)
    check_topology_cost(recipe, shape, settings)
    return TopologyRequest(x, recipe, [*notes, *_too_few_points(recipe, shape)])


def _too_few_points(recipe: Recipe, shape: tuple[int, ...]) -> list[str]:
    """A note when a delay embedding leaves each channel too few points for any H1 pair, so
    that all-zero PIs read as the parameters' doing, not the signal's."""
    if not isinstance(recipe, SignalTakens) or recipe.has_room_for_cycles(shape[-1]):
        return []
    points = recipe.embedded_points(shape[-1])
    return [
        f"signal-takens embeds each channel of {shape[-1]} samples as {points} point(s), too "
        f"few for a cycle (at least {FEWEST_POINTS_FOR_H1}): its diagrams are empty and its "
        "PIs zero; a smaller dimension, delay or stride embeds more"
    ]


def _form_text(value: object, field: str) -> str | None:
    if not isinstance(value, str | None):
        raise InputError(f"form field {field!r} must be text, not a file")
    return value or None


def _form_params(value: object) -> dict[str, object]:
    """The form field 'params': a JSON object of recipe parameters (absent: none)."""
    text = _form_text(value, "params")
    if text is None:
        return {}
    try:
        params = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise InputError(f"form field 'params' is not JSON ({error}); send an object") from None
    if not isinstance(params, dict):
        raise InputError(f"form field 'params' must be a JSON object, got {text[:80]!r}")
    return params


def _recipe(name: str, params: dict[str, object], modality: Modality) -> Recipe:
    """The recipe `name` with `params`: 404 for an unknown name, 422 for a recipe of the
    other modality, an unknown parameter or a value the recipe refuses (each named)."""
    if name not in RECIPES:
        raise InputError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}", 404)
    takes = RECIPES[name].modality
    if takes != modality:
        raise InputError(
            f"recipe {name!r} takes {PLURALS[takes]}; POST to /v1/{PLURALS[takes]}/topology"
        )
    try:
        return recipe_from_json(name, params)
    except ValueError as error:
        raise InputError(str(error)) from None


def _topology_route(modality: Modality) -> Callable[..., Awaitable[Response]]:
    async def endpoint(
        request: Request,
        registry: ReadyRegistryDep,
        settings: SettingsDep,
        metrics: MetricsDep,
    ) -> Response:
        asked = await read_topology_request(request, modality, settings)
        exact = await registry.exact.compute(asked.recipe, asked.x)
        metrics.observe_topology(asked.recipe.name, exact.diagram_ms, exact.image_ms)
        body = TopologyResponse(
            recipe=RecipeInfo(name=asked.recipe.name, params=asked.recipe.params),
            homology_dimensions=list(asked.recipe.homology_dimensions),
            diagrams=[np.ascontiguousarray(diagram) for diagram in exact.diagrams],
            dimensions=exact.dimensions,
            pi=exact.pi,
            shape=list(exact.pi.shape),
            timing=TopologyTiming(diagram_ms=exact.diagram_ms, image_ms=exact.image_ms),
            notes=asked.notes,
        )
        return json_response(body)

    return endpoint


def _add_route(modality: Modality, upload: str) -> None:
    """The topology route of one modality, its bodies as the PI route's (pi.ROUTES)."""
    json_body = SignalTopologyRequest.model_json_schema() if modality == "signal" else None
    body = "JSON {signal: (C, T), recipe, params}, or a" if json_body else "A"
    plural, default = PLURALS[modality], RELEASED_RECIPES[modality]
    router.add_api_route(
        f"/{plural}/topology",
        _topology_route(modality),
        methods=["POST"],
        name=f"{modality}_topology",
        summary=f"Exact diagrams and PIs of one {modality}",
        description=f"The exact persistence diagrams (finite pairs, per channel) and PIs "
        f"`(C, R, R)` (R: the recipe's `resolution`, 50 unless it has one) of one {modality} "
        f"`{layout(modality)}` by a recipe of GET /v1/recipes "
        f"(default {default}) with parameters `params`; over a recipe's cost cap "
        "(PINET_MAX_TOPOLOGY_VALUES, PINET_MAX_RIPS_POINTS) 413.",
        response_model=TopologyResponse,
        responses=ERROR_RESPONSES,
        openapi_extra=request_body(
            f"{body} multipart 'file': {upload}, with the text fields 'recipe' and 'params' "
            "(a JSON object)",
            {"file": FILE_FIELD, "recipe": {"type": "string"}, "params": {"type": "string"}},
            json_body,
        ),
    )


for pi_routes in PI_ROUTES:
    _add_route(pi_routes.modality, pi_routes.upload)
