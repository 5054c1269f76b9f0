"""Liveness and readiness probes; never behind the API key."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import ReadyRegistryDep
from service.schemas import ErrorBody, Status

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Status)
def healthz() -> Status:
    """200 while the process serves HTTP."""
    return Status(status="ok")


@router.get("/readyz", response_model=Status, responses={503: {"model": ErrorBody}})
def readyz(registry: ReadyRegistryDep) -> Status:
    """200 once every model is loaded and warmed up, 503 (with the reason) before."""
    return Status(status="ready")
