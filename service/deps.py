"""Dependencies the routes declare with `Annotated[..., Depends(...)]`.

They are `async def` although none awaits: FastAPI runs a plain `def` dependency in a worker
thread, a hand-off per dependency per request that showed in profiles under load.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from service.registry import ModelRegistry, ServedModel
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


async def require_api_key(
    settings: SettingsDep, key: Annotated[str | None, Security(_api_key_header)]
) -> None:
    """With PINET_API_KEY set, every /v1 request needs it in the X-API-Key header."""
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if key is None or not secrets.compare_digest(key.encode(), expected):
        what = "is missing" if key is None else "is wrong"
        raise HTTPException(401, f"the X-API-Key header {what}; this server needs an API key")


async def ready_registry(registry: RegistryDep, settings: SettingsDep) -> ModelRegistry:
    """The registry once every model is loaded and warm; 503 before."""
    if not registry.ready:
        raise HTTPException(
            503,
            registry.problem or "models are still loading",
            headers={"Retry-After": str(max(1, round(settings.retry_after_s)))},
        )
    return registry


ReadyRegistryDep = Annotated[ModelRegistry, Depends(ready_registry)]


def pick_model(registry: ModelRegistry, name: str | None, modality: str) -> ServedModel:
    """The model called `name`, or the first (by name) of `modality` when no name is given."""
    if name is None:
        for served_name in sorted(registry.models):
            if registry.models[served_name].card.modality == modality:
                return registry.models[served_name]
        raise HTTPException(404, f"no {modality} model is loaded; GET /v1/models lists them")
    served = registry.models.get(name)
    if served is None:
        known = ", ".join(sorted(registry.models)) or "none"
        raise HTTPException(404, f"unknown model {name!r}; loaded models: {known}")
    if served.card.modality != modality:
        other = "signals" if served.card.modality == "signal" else "images"
        raise HTTPException(422, f"model {name!r} takes {other}; POST to /v1/{other}/pi instead")
    return served
