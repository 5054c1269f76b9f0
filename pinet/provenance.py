"""How an output was made: the versions of the libraries that made it, and when."""

from __future__ import annotations

import functools
import platform
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

# The libraries whose versions can change a diagram, an image, a store or a model.
_RECORDED_PACKAGES = (
    "pinet",
    "numpy",
    "scipy",
    "numba",
    "ripser",
    "giotto-ph",
    "cripser",
    "gudhi",
    "persim",
    "zarr",
    "torch",
    "safetensors",
    "onnx",
    "onnxruntime",
)


@functools.cache
def _versions() -> tuple[tuple[str, str], ...]:
    versions = {"python": platform.python_version()}
    for package in _RECORDED_PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return tuple(versions.items())


def library_versions() -> dict[str, str]:
    """Installed versions of the libraries that shape our outputs, plus Python's (read once
    per process: looking up package metadata costs milliseconds per package)."""
    return dict(_versions())


def utc_now() -> str:
    """The current time as an ISO 8601 UTC timestamp, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")
