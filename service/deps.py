"""Dependencies the routes declare with `Annotated[..., Depends(...)]`.

They are `async def` although none awaits: FastAPI runs a plain `def` dependency in a worker
thread, a hand-off per dependency per request that showed in profiles under load.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from service.errors import retry_after
from service.middleware import API_KEY_HEADER
from service.serving.registry import ModelRegistry
from service.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]

_api_key_header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False)


async def declare_api_key(key: Annotated[str | None, Security(_api_key_header)]) -> None:
    """Declares the X-API-Key header in the OpenAPI schema of every /v1 route; the check
    itself is `service.middleware.ApiKeyGate`'s, for every /v1 path, unknown ones too."""


async def ready_registry(request: Request, registry: RegistryDep) -> ModelRegistry:
    """The registry once every model is loaded and warm; 503 before."""
    if not registry.ready:
        detail = registry.problem or "models are still loading"
        raise HTTPException(503, detail, headers=retry_after(request))
    return registry


ReadyRegistryDep = Annotated[ModelRegistry, Depends(ready_registry)]
