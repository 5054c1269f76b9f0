"""Pydantic's validation errors as one line a person can act on: shared by the service's
request errors and the recipe parameters that `pinet.tda.recipe_from_json` checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def describe_validation_error(errors: Sequence[Any]) -> str:
    """Pydantic's error list as one line: 'signal.0.1: Input should be a valid number'
    (a request body's own "body" step left out of each location)."""
    parts = []
    for item in errors:
        where = ".".join(str(p) for p in item.get("loc", ()) if p != "body")
        parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
    return "; ".join(parts) or "invalid request"
