"""The demo web page at `/`, its scripts under `/static` and the example inputs it offers
under `/examples`; none of them needs the API key (the page asks for it when /v1 does)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

SERVICE_DIR = Path(__file__).resolve().parents[1]
STATIC_DIR = SERVICE_DIR / "static"
EXAMPLES_DIR = SERVICE_DIR / "examples"

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    """The page: upload a signal or an image, see its exact and PI-Net PIs side by side."""
    return FileResponse(STATIC_DIR / "index.html")


def mount_page(app: FastAPI) -> None:
    """Serve the page, its static files and the bundled examples from `app`."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/examples", StaticFiles(directory=EXAMPLES_DIR), name="examples")
