"""Dependencies the routes declare with `Annotated[..., Depends(...)]`.

They are `async def` although none awaits: FastAPI runs a plain `def` dependency in a worker
thread, a hand-off per dependency per request that showed in profiles under load.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from service.errors import retry_after
from service.serving.registry import ModelRegistry
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


async def ready_registry(request: Request, registry: RegistryDep) -> ModelRegistry:
    """The registry once every model is loaded and warm; 503 before."""
    if not registry.ready:
        detail = registry.problem or "models are still loading"
        raise HTTPException(503, detail, headers=retry_after(request))
    return registry


ReadyRegistryDep = Annotated[ModelRegistry, Depends(ready_registry)]
